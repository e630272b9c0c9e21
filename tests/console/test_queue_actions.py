"""Working the review queue: the list, the allocation preview, match, split, write-off, refund, ignore."""

from __future__ import annotations

from sqlalchemy import func, select

from payments.persistence.tables import AllocationRow, AuditEvent, Case, Debt, OutboxEvent, Payment, Refund
from payments.services.container import Services
from tests.api.conftest import debt
from tests.console.conftest import (
    ONE_DEBT,
    NewBrowser,
    add_staff,
    candidate,
    item_row,
    logged_in,
    new_case,
    post_form,
    review_item,
)

TOTAL_ONE_DEBT = 107_000  # 1000.00 + 50.00 + 20.00


async def _counts(services: Services) -> dict[str, int]:
    async with services.db.sessions() as session:
        return {
            m.__tablename__: int(await session.scalar(select(func.count()).select_from(m)) or 0)
            for m in (AllocationRow, AuditEvent, OutboxEvent, Refund)
        }


async def _balance(services: Services, case_id: str) -> int:
    async with services.db.sessions() as session:
        total = await session.scalar(
            select(func.sum(Debt.principal_fen + Debt.interest_fen + Debt.fees_fen)).where(
                Debt.case_id == case_id
            )
        )
        return int(total or 0)


async def test_the_queue_lists_open_items_with_their_amounts(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    item = await review_item(services, tenant.client_id, 123_456)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    page = await browser.get("/console/queue")
    assert page.status_code == 200
    assert f"/console/queue/{item.id}" in page.text
    assert "1234.56" in page.text


async def test_the_queue_filters_by_amount_range(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    small = await review_item(services, tenant.client_id, 5_000)
    big = await review_item(services, tenant.client_id, 900_000)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    page = await browser.get("/console/queue", params={"min": "100.00", "max": "1000.00"})
    assert small.id not in page.text
    assert big.id not in page.text
    page = await browser.get("/console/queue", params={"min": "8000"})
    assert big.id in page.text and small.id not in page.text


async def test_the_queue_filters_by_age(services: Services, client, new_browser: NewBrowser, tenant) -> None:
    fresh = await review_item(services, tenant.client_id, 10_000)
    old = await review_item(services, tenant.client_id, 10_000, age_days=10)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    page = await browser.get("/console/queue", params={"age": "7"})
    assert old.id in page.text and fresh.id not in page.text


async def test_an_item_shows_its_candidates_and_the_criteria_that_fired(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    case = await new_case(client, tenant, ONE_DEBT)
    item = await review_item(services, tenant.client_id, TOTAL_ONE_DEBT, [candidate([case["id"]], 92)])
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    page = await browser.get(f"/console/queue/{item.id}")
    assert page.status_code == 200
    assert case["external_ref"] in page.text
    assert "附言含案件号" in page.text and "姓名拼音相符" in page.text
    english = await browser.get(f"/console/queue/{item.id}", params={"lang": "en"})
    assert "reference in memo" in english.text and "附言含案件号" not in english.text


async def test_the_preview_shows_the_allocation_and_writes_nothing(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    case = await new_case(client, tenant, ONE_DEBT)
    item = await review_item(services, tenant.client_id, 30_000, [candidate([case["id"]])])
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    before = await _counts(services)
    page = await browser.get(
        f"/console/queue/{item.id}", params={"action": "match", "case": case["external_ref"]}
    )
    assert page.status_code == 200
    assert 'id="preview"' in page.text
    # Fees 20.00 and interest 50.00 first, then 230.00 of principal (Civil Code art. 561).
    assert "20.00" in page.text and "50.00" in page.text and "230.00" in page.text
    assert await _counts(services) == before
    assert (await item_row(services, item.id)).status == "open"
    assert await _balance(services, case["id"]) == TOTAL_ONE_DEBT


async def test_match_writes_allocations_and_closes_the_item(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    case = await new_case(client, tenant, ONE_DEBT)
    item = await review_item(services, tenant.client_id, 30_000, [candidate([case["id"]])])
    clerk = await add_staff(services, "clerk", tenant.client_id)
    browser = await logged_in(new_browser, clerk)
    resp = await post_form(
        browser, f"/console/queue/{item.id}", f"/console/queue/{item.id}/match", {"case": case["id"]}
    )
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == f"/console/queue/{item.id}?msg=match"
    row = await item_row(services, item.id)
    assert row.status == "matched" and row.resolved_by == f"staff:{clerk.username}"
    async with services.db.sessions() as session:
        allocated = await session.scalar(
            select(func.sum(AllocationRow.amount_fen)).where(AllocationRow.payment_id == item.payment_id)
        )
        payment = await session.get_one(Payment, item.payment_id)
        events = (
            await session.scalars(select(OutboxEvent.type).where(OutboxEvent.case_id == case["id"]))
        ).all()
    assert allocated == 30_000
    assert payment.status == "matched" and payment.unapplied_fen == 0
    assert "payment.matched" in events
    assert await _balance(services, case["id"]) == TOTAL_ONE_DEBT - 30_000


async def test_a_split_goes_to_each_case_by_its_share(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    first = await new_case(client, tenant, debt("D1", "2024-01-31", principal="500.00"))
    second = await new_case(client, tenant, debt("D1", "2024-02-29", principal="800.00"))
    item = await review_item(services, tenant.client_id, 100_000, [candidate([first["id"], second["id"]])])
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    resp = await post_form(
        browser,
        f"/console/queue/{item.id}",
        f"/console/queue/{item.id}/split",
        {"case": [first["external_ref"], second["external_ref"]], "amount": ["400.00", "600.00"]},
    )
    assert resp.status_code == 303, resp.text
    assert await _balance(services, first["id"]) == 10_000
    assert await _balance(services, second["id"]) == 20_000
    assert (await item_row(services, item.id)).status == "matched"


async def test_a_split_that_does_not_add_up_is_refused_with_the_totals(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    first = await new_case(client, tenant, ONE_DEBT)
    second = await new_case(client, tenant, ONE_DEBT)
    item = await review_item(services, tenant.client_id, 100_000, [candidate([first["id"], second["id"]])])
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    before = await _counts(services)
    resp = await post_form(
        browser,
        f"/console/queue/{item.id}",
        f"/console/queue/{item.id}/split",
        {"case": [first["id"], second["id"]], "amount": ["400.00", "500.00"]},
    )
    assert resp.status_code == 422
    assert "各案件金额合计 900.00 元，与付款金额 1000.00 元不一致" in resp.text
    assert await _counts(services) == before
    assert (await item_row(services, item.id)).status == "open"


async def test_a_write_off_above_the_limit_is_refused(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    case = await new_case(client, tenant, ONE_DEBT)
    # 20.00 short of the balance: above the 10.00 limit.
    item = await review_item(services, tenant.client_id, TOTAL_ONE_DEBT - 2_000, [candidate([case["id"]])])
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    resp = await post_form(
        browser, f"/console/queue/{item.id}", f"/console/queue/{item.id}/write-off", {"case": case["id"]}
    )
    assert resp.status_code == 422
    assert "差额 20.00 元超过核销上限 10.00 元" in resp.text
    assert (await item_row(services, item.id)).status == "open"
    assert await _balance(services, case["id"]) == TOTAL_ONE_DEBT


async def test_a_small_shortfall_is_written_off_and_the_case_is_paid(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    case = await new_case(client, tenant, ONE_DEBT)
    item = await review_item(services, tenant.client_id, TOTAL_ONE_DEBT - 50, [candidate([case["id"]])])
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    resp = await post_form(
        browser,
        f"/console/queue/{item.id}",
        f"/console/queue/{item.id}/write-off",
        {"case": case["id"], "reason": "bank fee"},
    )
    assert resp.status_code == 303, resp.text
    row = await item_row(services, item.id)
    assert row.status == "written_off" and row.resolution and row.resolution["written_off_fen"] == 50
    assert await _balance(services, case["id"]) == 0
    async with services.db.sessions() as session:
        assert (await session.get_one(Case, case["id"])).status == "paid"


async def test_ignore_needs_a_reason(services: Services, client, new_browser: NewBrowser, tenant) -> None:
    item = await review_item(services, tenant.client_id, 10_000)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    resp = await post_form(
        browser, f"/console/queue/{item.id}", f"/console/queue/{item.id}/ignore", {"reason": "  "}
    )
    assert resp.status_code == 422
    assert "请填写原因" in resp.text
    assert (await item_row(services, item.id)).status == "open"


async def test_ignore_with_a_reason_takes_the_payment_out_of_review(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    item = await review_item(services, tenant.client_id, 10_000)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    resp = await post_form(
        browser, f"/console/queue/{item.id}", f"/console/queue/{item.id}/ignore", {"reason": "test transfer"}
    )
    assert resp.status_code == 303
    row = await item_row(services, item.id)
    assert row.status == "ignored" and row.resolution and row.resolution["reason"] == "test transfer"
    async with services.db.sessions() as session:
        assert (await session.get_one(Payment, item.payment_id)).status == "ignored"


async def test_a_refund_of_a_bank_transfer_records_a_refund_to_pay_by_hand(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    item = await review_item(services, tenant.client_id, 25_000)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    resp = await post_form(
        browser, f"/console/queue/{item.id}", f"/console/queue/{item.id}/refund", {"reason": "not our debtor"}
    )
    assert resp.status_code == 303, resp.text
    row = await item_row(services, item.id)
    assert row.status == "refund" and row.resolution and row.resolution["refund_id"]
    async with services.db.sessions() as session:
        refund = await session.get_one(Refund, row.resolution["refund_id"])
    assert refund.amount_fen == 25_000 and refund.status == "processing"


async def test_a_resolved_item_cannot_be_acted_on_again(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    item = await review_item(services, tenant.client_id, 10_000)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    page = await browser.get(f"/console/queue/{item.id}")
    from tests.console.conftest import csrf_of

    token = csrf_of(page.text)
    first = await browser.post(
        f"/console/queue/{item.id}/ignore", data={"reason": "dup", "_csrf_token": token}
    )
    assert first.status_code == 303
    second = await browser.post(
        f"/console/queue/{item.id}/ignore", data={"reason": "dup", "_csrf_token": token}
    )
    assert second.status_code == 409


async def test_a_refund_the_provider_cannot_take_puts_the_payment_back_in_the_queue(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    # An Alipay payment without our order: there is nothing at Alipay to refund against.
    item = await review_item(services, tenant.client_id, 25_000, provider="alipay")
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    resp = await post_form(
        browser, f"/console/queue/{item.id}", f"/console/queue/{item.id}/refund", {"reason": "wrong payer"}
    )
    assert resp.status_code == 502
    assert "退款未能发起" in resp.text
    assert (await item_row(services, item.id)).status == "open"


async def test_an_action_without_the_csrf_token_is_refused(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    item = await review_item(services, tenant.client_id, 10_000)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    resp = await browser.post(f"/console/queue/{item.id}/ignore", data={"reason": "no token"})
    assert resp.status_code == 403
    assert (await item_row(services, item.id)).status == "open"
