"""POST /v1/cases/{id}/links, GET /v1/links/{id}, revoke and approve: the case system's side of links."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone

from payments.services.links import LinkService
from tests.api.conftest import ID_NUMBER, NAME, PHONE, assert_problem, debt
from tests.links.conftest import BASE, in_days, issue, new_case, new_link, read_link, set_link, token_of

SMS_HOST = "pay.example-lender.com.cn"  # 25 characters
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")


def _today_plus(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


async def test_full_balance_is_the_default_policy(client, tenant):
    case = await new_case(client, tenant)
    resp = await issue(client, tenant, case["id"])
    assert resp.status_code == 201, resp.text
    link = resp.json()
    assert link["amount_policy"] == {"kind": "full_balance"}
    assert link["status"] == "active"
    assert link["case_id"] == case["id"]
    assert link["channels"] == ["alipay", "wechatpay", "bankcard"]
    assert (link["max_payments"], link["payments_count"], link["paid"], link["paid_fen"]) == (
        None,
        0,
        "0.00",
        0,
    )
    assert link["approved_at"] is None


async def test_issue_returns_the_url_and_both_qr_urls(client, tenant):
    link = await new_link(client, tenant)
    assert re.fullmatch(rf"{BASE}/pay/[A-Za-z0-9_-]{{22}}", link["url"]), link["url"]
    assert link["qr_png_url"] == link["url"] + "/qr.png"
    assert link["qr_svg_url"] == link["url"] + "/qr.svg"


async def test_fixed_policy_is_issued_with_its_amount(client, tenant):
    link = await new_link(client, tenant, amount_policy={"kind": "fixed", "amount": "120.50"})
    assert link["amount_policy"] == {"kind": "fixed", "amount": "120.50", "amount_fen": 12050}
    assert link["status"] == "active"


async def test_range_policy_is_issued_with_its_minimum(client, tenant):
    link = await new_link(client, tenant, amount_policy={"kind": "range", "min_amount_fen": 5000})
    assert link["amount_policy"] == {"kind": "range", "min_amount": "50.00", "min_amount_fen": 5000}
    assert link["status"] == "active"


async def test_instalment_policy_is_issued_with_its_plan(client, tenant):
    plan = [
        {"due_date": _today_plus(10), "amount": "300.00"},
        {"due_date": _today_plus(40), "amount_fen": 70000},
    ]
    link = await new_link(client, tenant, amount_policy={"kind": "instalments", "instalments": plan})
    assert link["amount_policy"] == {
        "kind": "instalments",
        "instalments": [
            {"due_date": _today_plus(10), "amount": "300.00", "amount_fen": 30000},
            {"due_date": _today_plus(40), "amount": "700.00", "amount_fen": 70000},
        ],
    }
    assert link["status"] == "active"


async def test_settlement_offer_waits_for_approval(client, tenant):
    settle_by = _today_plus(14)
    link = await new_link(
        client, tenant, amount_policy={"kind": "settlement", "amount": "800.00", "settle_by": settle_by}
    )
    assert link["amount_policy"] == {
        "kind": "settlement",
        "amount": "800.00",
        "amount_fen": 80000,
        "settle_by": settle_by,
    }
    assert link["status"] == "created"
    assert link["approved_at"] is None


async def test_default_expiry_is_seven_days(client, tenant):
    link = await new_link(client, tenant)
    created = datetime.fromisoformat(link["created_at"])
    assert datetime.fromisoformat(link["expires_at"]) - created == timedelta(days=7)


async def test_expiry_of_180_days_is_accepted(client, tenant):
    wanted = datetime.now(UTC).replace(microsecond=0) + timedelta(days=180) - timedelta(minutes=1)
    link = await new_link(client, tenant, expires_at=wanted.isoformat())
    assert datetime.fromisoformat(link["expires_at"]) == wanted


async def test_channels_and_payment_cap_are_kept(client, tenant):
    link = await new_link(client, tenant, channels=["wechatpay"], max_payments=2)
    assert (link["channels"], link["max_payments"]) == (["wechatpay"], 2)


async def test_get_link_returns_what_issue_returned(client, tenant):
    link = await new_link(client, tenant)
    assert await read_link(client, tenant, link["id"]) == link


async def test_finance_key_can_read_a_link(client, tenant):
    link = await new_link(client, tenant)
    resp = await client.get(f"/v1/links/{link['id']}", headers=tenant.finance_headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == link["id"]


# ---- the URL and the token -------------------------------------------------------------------


async def test_url_fits_an_sms_with_a_25_character_host(services, client, tenant):
    link = await new_link(client, tenant)
    service = LinkService(services.db, services.pii, f"https://{SMS_HOST}", ("alipay",))
    url = service.url_for(token_of(link))
    assert len(SMS_HOST) == 25
    assert url == f"https://{SMS_HOST}/pay/{token_of(link)}"
    assert len(url) <= 60


async def test_token_is_22_url_safe_characters_carrying_128_bits(client, tenant):
    token = token_of(await new_link(client, tenant))
    assert TOKEN.fullmatch(token), token
    assert len(base64.urlsafe_b64decode(token + "==")) == 16


async def test_tokens_differ_for_links_of_the_same_case(client, tenant):
    case = await new_case(client, tenant)
    tokens = set()
    for _ in range(20):
        resp = await issue(client, tenant, case["id"])
        assert resp.status_code == 201, resp.text
        tokens.add(token_of(resp.json()))
    assert len(tokens) == 20


async def test_token_and_url_carry_no_personal_data_or_amount(client, tenant):
    case = await new_case(client, tenant, debt("D1", principal="4321.98"))
    resp = await issue(client, tenant, case["id"], amount_policy={"kind": "fixed", "amount": "1234.56"})
    link = resp.json()
    for plain in (
        NAME,
        ID_NUMBER,
        ID_NUMBER[-4:],
        PHONE,
        PHONE[-4:],
        "123456",
        "1234.56",
        "432198",
        "4321.98",
    ):
        assert plain not in link["url"], plain
    assert case["id"] not in link["url"] and case["external_ref"] not in link["url"]
    assert link["id"] not in link["url"]


# ---- validation -------------------------------------------------------------------------------


async def _bad(client, tenant, **body):
    case = await new_case(client, tenant)
    return await issue(client, tenant, case["id"], **body)


async def test_settlement_without_settle_by_is_a_422_naming_it(client, tenant):
    resp = await _bad(client, tenant, amount_policy={"kind": "settlement", "amount": "500.00"})
    assert_problem(resp, 422, "validation-error", "amount_policy.settle_by")


async def test_settlement_with_settle_by_in_the_past_is_a_422_naming_it(client, tenant):
    resp = await _bad(
        client, tenant, amount_policy={"kind": "settlement", "amount": "500.00", "settle_by": "2020-01-01"}
    )
    assert_problem(resp, 422, "validation-error", "amount_policy.settle_by")


async def test_settlement_without_amount_is_a_422_naming_it(client, tenant):
    resp = await _bad(client, tenant, amount_policy={"kind": "settlement", "settle_by": _today_plus(5)})
    assert_problem(resp, 422, "validation-error", "amount_policy.amount")


async def test_range_without_minimum_is_a_422_naming_it(client, tenant):
    resp = await _bad(client, tenant, amount_policy={"kind": "range"})
    assert_problem(resp, 422, "validation-error", "amount_policy.min_amount")


async def test_fixed_without_amount_is_a_422_naming_it(client, tenant):
    resp = await _bad(client, tenant, amount_policy={"kind": "fixed"})
    assert_problem(resp, 422, "validation-error", "amount_policy.amount")


async def test_instalments_out_of_order_are_a_422_naming_them(client, tenant):
    plan = [
        {"due_date": _today_plus(40), "amount": "100.00"},
        {"due_date": _today_plus(10), "amount": "100.00"},
    ]
    resp = await _bad(client, tenant, amount_policy={"kind": "instalments", "instalments": plan})
    assert_problem(resp, 422, "validation-error", "amount_policy.instalments")


async def test_instalments_on_the_same_day_are_a_422_naming_them(client, tenant):
    plan = [{"due_date": _today_plus(10), "amount": "100.00"}] * 2
    resp = await _bad(client, tenant, amount_policy={"kind": "instalments", "instalments": plan})
    assert_problem(resp, 422, "validation-error", "amount_policy.instalments")


async def test_empty_instalment_plan_is_a_422_naming_it(client, tenant):
    resp = await _bad(client, tenant, amount_policy={"kind": "instalments", "instalments": []})
    assert_problem(resp, 422, "validation-error", "amount_policy.instalments")


async def test_instalment_with_zero_amount_is_a_422_naming_it(client, tenant):
    plan = [{"due_date": _today_plus(10), "amount": "0.00"}]
    resp = await _bad(client, tenant, amount_policy={"kind": "instalments", "instalments": plan})
    assert_problem(resp, 422, "validation-error", "amount_policy.instalments[0].amount")


async def test_amount_with_three_decimals_is_a_422_naming_it(client, tenant):
    resp = await _bad(client, tenant, amount_policy={"kind": "fixed", "amount": "10.001"})
    assert_problem(resp, 422, "validation-error", "amount_policy.amount")


async def test_unknown_policy_kind_is_a_422_naming_it(client, tenant):
    resp = await _bad(client, tenant, amount_policy={"kind": "whatever"})
    assert_problem(resp, 422, "validation-error", "amount_policy.kind")


async def test_expiry_beyond_180_days_is_a_422_naming_it(client, tenant):
    resp = await _bad(client, tenant, expires_at=in_days(181))
    assert_problem(resp, 422, "validation-error", "expires_at")


async def test_expiry_in_the_past_is_a_422_naming_it(client, tenant):
    resp = await _bad(client, tenant, expires_at=in_days(-1))
    assert_problem(resp, 422, "validation-error", "expires_at")


async def test_expiry_without_time_zone_is_a_422_naming_it(client, tenant):
    resp = await _bad(
        client, tenant, expires_at=(datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()
    )
    assert_problem(resp, 422, "validation-error", "expires_at")


async def test_unknown_channel_is_a_422_naming_it(client, tenant):
    resp = await _bad(client, tenant, channels=["alipay", "paypal"])
    assert_problem(resp, 422, "validation-error", "channels[1]")


async def test_no_channel_at_all_is_a_422_naming_channels(client, tenant):
    resp = await _bad(client, tenant, channels=[])
    assert_problem(resp, 422, "validation-error", "channels")


async def test_max_payments_zero_is_a_422_naming_it(client, tenant):
    resp = await _bad(client, tenant, max_payments=0)
    assert_problem(resp, 422, "validation-error", "max_payments")


async def test_unknown_field_is_a_422_naming_it(client, tenant):
    resp = await _bad(client, tenant, colour="red")
    assert_problem(resp, 422, "validation-error", "colour")


async def test_issue_for_a_missing_case_is_a_404(client, tenant):
    resp = await issue(client, tenant, "case_00000000000000000000000000")
    assert_problem(resp, 404, "not-found")


async def test_finance_key_cannot_issue_links(client, tenant):
    case = await new_case(client, tenant)
    resp = await client.post(f"/v1/cases/{case['id']}/links", json={}, headers=tenant.finance_headers)
    assert_problem(resp, 403, "forbidden")


async def test_issue_without_a_key_is_a_401(client, tenant):
    case = await new_case(client, tenant)
    resp = await client.post(f"/v1/cases/{case['id']}/links", json={})
    assert resp.status_code == 401, resp.text


# ---- tenant isolation -------------------------------------------------------------------------


async def test_another_clients_case_cannot_get_a_link(client, tenant, other_tenant):
    case = await new_case(client, tenant)
    resp = await issue(client, other_tenant, case["id"])
    assert_problem(resp, 404, "not-found")


async def test_another_clients_link_cannot_be_read(client, tenant, other_tenant):
    link = await new_link(client, tenant)
    resp = await client.get(f"/v1/links/{link['id']}", headers=other_tenant.headers)
    assert_problem(resp, 404, "not-found")


async def test_another_clients_link_cannot_be_revoked(client, tenant, other_tenant):
    link = await new_link(client, tenant)
    resp = await client.post(f"/v1/links/{link['id']}/revoke", headers=other_tenant.headers)
    assert_problem(resp, 404, "not-found")
    assert (await read_link(client, tenant, link["id"]))["status"] == "active"


async def test_another_clients_finance_key_cannot_approve(client, tenant, other_tenant):
    link = await new_link(
        client, tenant, amount_policy={"kind": "settlement", "amount": "500.00", "settle_by": _today_plus(5)}
    )
    resp = await client.post(f"/v1/links/{link['id']}/approve", headers=other_tenant.finance_headers)
    assert_problem(resp, 404, "not-found")
    assert (await read_link(client, tenant, link["id"]))["status"] == "created"


# ---- revoke and approve -------------------------------------------------------------------------


async def test_revoke_makes_the_link_revoked(client, tenant):
    link = await new_link(client, tenant)
    resp = await client.post(
        f"/v1/links/{link['id']}/revoke", json={"reason": "debtor disputes"}, headers=tenant.headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "revoked"
    assert (await read_link(client, tenant, link["id"]))["status"] == "revoked"


async def test_revoking_twice_is_a_409(client, tenant):
    link = await new_link(client, tenant)
    first = await client.post(f"/v1/links/{link['id']}/revoke", headers=tenant.headers)
    second = await client.post(f"/v1/links/{link['id']}/revoke", headers=tenant.headers)
    assert first.status_code == 200, first.text
    assert_problem(second, 409, "illegal-transition")


async def test_finance_approval_makes_a_settlement_offer_active(client, tenant):
    link = await new_link(
        client, tenant, amount_policy={"kind": "settlement", "amount": "500.00", "settle_by": _today_plus(5)}
    )
    resp = await client.post(f"/v1/links/{link['id']}/approve", headers=tenant.finance_headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "active"
    assert datetime.fromisoformat(resp.json()["approved_at"]).utcoffset() == timedelta(0)
    assert (await read_link(client, tenant, link["id"]))["status"] == "active"


async def test_case_system_key_cannot_approve_a_settlement_offer(client, tenant):
    link = await new_link(
        client, tenant, amount_policy={"kind": "settlement", "amount": "500.00", "settle_by": _today_plus(5)}
    )
    resp = await client.post(f"/v1/links/{link['id']}/approve", headers=tenant.headers)
    assert_problem(resp, 403, "forbidden")
    assert (await read_link(client, tenant, link["id"]))["status"] == "created"


async def test_approving_an_active_link_is_a_409(client, tenant):
    link = await new_link(client, tenant)
    resp = await client.post(f"/v1/links/{link['id']}/approve", headers=tenant.finance_headers)
    assert_problem(resp, 409, "conflict")


async def test_approving_twice_is_a_409(client, tenant):
    link = await new_link(
        client, tenant, amount_policy={"kind": "settlement", "amount": "500.00", "settle_by": _today_plus(5)}
    )
    first = await client.post(f"/v1/links/{link['id']}/approve", headers=tenant.finance_headers)
    second = await client.post(f"/v1/links/{link['id']}/approve", headers=tenant.finance_headers)
    assert first.status_code == 200, first.text
    assert_problem(second, 409, "conflict")


async def test_settle_by_today_is_accepted(client, tenant):
    # Today as the borrower and the creditor read it: Beijing's day, which is UTC's next day after 16:00.
    today = datetime.now(timezone(timedelta(hours=8))).date().isoformat()
    link = await new_link(
        client, tenant, amount_policy={"kind": "settlement", "amount": "1.00", "settle_by": today}
    )
    assert link["amount_policy"]["settle_by"] == today


async def test_a_settlement_offer_lives_until_the_end_of_its_settle_by_day(client, tenant):
    link = await new_link(
        client, tenant, amount_policy={"kind": "settlement", "amount": "100.00", "settle_by": _today_plus(20)}
    )
    # 23:59:59 in Beijing is 15:59:59 UTC on the same date.
    assert link["expires_at"] == f"{_today_plus(20)}T15:59:59Z"


async def test_a_settle_by_after_an_explicit_expiry_is_a_422_naming_it(client, tenant):
    case = await new_case(client, tenant)
    resp = await issue(
        client,
        tenant,
        case["id"],
        expires_at=in_days(3),
        amount_policy={"kind": "settlement", "amount": "100.00", "settle_by": _today_plus(10)},
    )
    assert_problem(resp, 422, "validation-error", "amount_policy.settle_by")


async def test_a_link_past_its_expiry_reads_expired_before_the_job_runs(client, tenant, services):
    link = await new_link(client, tenant)
    await set_link(services, link["id"], expires_at=datetime.now(UTC) - timedelta(minutes=1))
    assert (await read_link(client, tenant, link["id"]))["status"] == "expired"


async def test_settlement_offer_equal_to_the_balance_is_a_422_naming_the_amount(client, tenant):
    # The default case owes 1000.00: an "offer" of all of it forgives nothing.
    resp = await _bad(
        client, tenant, amount_policy={"kind": "settlement", "amount": "1000.00", "settle_by": _today_plus(5)}
    )
    assert_problem(resp, 422, "validation-error", "amount_policy.amount")


async def test_settlement_offer_above_the_balance_is_a_422_naming_the_amount(client, tenant):
    resp = await _bad(
        client, tenant, amount_policy={"kind": "settlement", "amount": "1200.00", "settle_by": _today_plus(5)}
    )
    assert_problem(resp, 422, "validation-error", "amount_policy.amount")


async def test_instalments_adding_up_to_more_than_the_balance_are_a_422_naming_them(client, tenant):
    plan = [
        {"amount": "600.00", "due_date": _today_plus(10)},
        {"amount": "500.00", "due_date": _today_plus(40)},
    ]
    resp = await _bad(client, tenant, amount_policy={"kind": "instalments", "instalments": plan})
    assert_problem(resp, 422, "validation-error", "amount_policy.instalments")


async def test_instalments_covering_part_of_the_balance_are_accepted(client, tenant):
    plan = [
        {"amount": "300.00", "due_date": _today_plus(10)},
        {"amount": "200.00", "due_date": _today_plus(40)},
    ]
    resp = await _bad(client, tenant, amount_policy={"kind": "instalments", "instalments": plan})
    assert resp.status_code == 201, resp.text
