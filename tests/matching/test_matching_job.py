"""The matching job: transfers without our reference are applied when the rules are sure, and sent to
review with ranked, explained candidates when they are not."""

from __future__ import annotations

import json

import pytest

from payments.services.container import Services
from reconciliation.matching import match_unreferenced
from tests.conftest import Tenant
from tests.matching.conftest import (
    allocations_by_case,
    events_of,
    id_number,
    line,
    make_case,
    payments_of_client,
    review_item,
    transfer,
)


async def test_transfer_naming_the_case_number_for_the_whole_balance_is_applied_to_that_case(
    client, services: Services, tenant: Tenant
):
    case_id = await make_case(client, tenant, name="王小明", ref="HT2024-000123", principal="1500.00")
    await transfer(services, tenant, line(150_000, memo="还款 HT2024-000123", payer_name="王小明"))

    report = await match_unreferenced(services, client_id=tenant.client_id)

    [payment] = await payments_of_client(services, tenant)
    assert (report.applied, report.review) == (1, 0)
    assert payment.status == "matched"
    assert await allocations_by_case(services, payment.id) == {case_id: 150_000}
    resp = await client.get(f"/v1/cases/{case_id}", headers=tenant.headers)
    assert resp.json()["status"] == "paid"


async def test_an_automatic_match_allocates_fees_then_interest_then_principal(
    client, services: Services, tenant: Tenant
):
    case_id = await make_case(
        client, tenant, name="李四", ref="HT2024-000777", principal="1000.00", interest="100.00", fees="50.00"
    )
    await transfer(services, tenant, line(100_000, memo="HT2024-000777 李四还款", payer_name="李四"))

    await match_unreferenced(services, client_id=tenant.client_id)

    view = (await client.get(f"/v1/cases/{case_id}", headers=tenant.headers)).json()
    balance = view["balance"]
    assert (balance["fees_fen"], balance["interest_fen"], balance["principal_fen"]) == (0, 0, 15_000)
    assert view["status"] == "partially_paid"


async def test_an_automatic_match_emits_payment_matched_for_the_case_system(
    client, services: Services, tenant: Tenant
):
    case_id = await make_case(client, tenant, name="赵六", ref="HT2024-000555", principal="800.00")
    await transfer(services, tenant, line(80_000, memo="HT2024-000555", payer_name="赵六"))

    await match_unreferenced(services, client_id=tenant.client_id)

    [matched] = await events_of(services, tenant, "payment.matched")
    assert (matched["case_id"], matched["applied_fen"]) == (case_id, 80_000)


async def test_a_transfer_that_resembles_no_case_goes_to_review_with_no_candidate(
    client, services: Services, tenant: Tenant
):
    await make_case(client, tenant, name="王小明", ref="HT2024-000123", principal="1500.00")
    await transfer(services, tenant, line(3_333, memo="货款", payer_name="某某贸易有限公司"))

    report = await match_unreferenced(services, client_id=tenant.client_id)

    [payment] = await payments_of_client(services, tenant)
    item = await review_item(services, payment.id)
    assert report.review == 1
    assert payment.status == "review"
    assert item is not None and (item.status, item.reason, item.candidates) == ("open", "no_candidate", [])
    assert await allocations_by_case(services, payment.id) == {}


async def test_a_transfer_sent_to_review_emits_payment_unmatched(client, services: Services, tenant: Tenant):
    await transfer(services, tenant, line(3_333, memo="货款", payer_name="某某贸易有限公司"))

    await match_unreferenced(services, client_id=tenant.client_id)

    [payment] = await payments_of_client(services, tenant)
    [event] = await events_of(services, tenant, "payment.unmatched")
    assert (event["payment_id"], event["amount_fen"], event["reason"]) == (payment.id, 3_333, "no_candidate")


async def test_two_debtors_who_fit_equally_go_to_review_with_both_ranked_and_explained(
    client, services: Services, tenant: Tenant
):
    first = await make_case(
        client,
        tenant,
        name="张伟",
        ref="HT2024-100001",
        principal="2000.00",
        id_number=id_number("11010519491231003"),
    )
    second = await make_case(
        client,
        tenant,
        name="张伟",
        ref="HT2024-100002",
        principal="2000.00",
        id_number=id_number("11010519501231004"),
    )
    await transfer(services, tenant, line(200_000, memo="还款", payer_name="张伟"))

    await match_unreferenced(services, client_id=tenant.client_id)

    [payment] = await payments_of_client(services, tenant)
    item = await review_item(services, payment.id)
    assert item is not None and item.reason in ("several_qualify", "no_margin", "below_threshold")
    ranked = [c["case_ids"] for c in item.candidates]
    assert [first] in ranked and [second] in ranked
    codes = {k["code"] for c in item.candidates for k in c["criteria"]}
    assert {"name_exact", "amount_balance"} <= codes


async def test_review_candidates_hold_no_personal_data(client, services: Services, tenant: Tenant):
    number = id_number("11010519491231003")
    await make_case(client, tenant, name="张伟", ref="HT2024-100001", principal="2000.00", id_number=number)
    await make_case(
        client,
        tenant,
        name="张伟",
        ref="HT2024-100002",
        principal="2000.00",
        id_number=id_number("11010519501231004"),
    )
    await transfer(
        services, tenant, line(200_000, memo="还款", payer_name="张伟", payer_account="6222020000001234567")
    )

    await match_unreferenced(services, client_id=tenant.client_id)

    [payment] = await payments_of_client(services, tenant)
    item = await review_item(services, payment.id)
    assert item is not None
    stored = json.dumps(item.candidates, ensure_ascii=False)
    assert "张伟" not in stored and "6222020000001234567" not in stored and number[-4:] not in stored


async def test_running_the_job_again_changes_nothing(client, services: Services, tenant: Tenant):
    await make_case(client, tenant, name="王小明", ref="HT2024-000123", principal="1500.00")
    await transfer(
        services,
        tenant,
        line(150_000, memo="还款 HT2024-000123", payer_name="王小明"),
        line(3_333, memo="货款", payer_name="某某贸易有限公司"),
    )
    await match_unreferenced(services, client_id=tenant.client_id)
    before = [(p.id, p.status, p.unapplied_fen) for p in await payments_of_client(services, tenant)]

    again = await match_unreferenced(services, client_id=tenant.client_id)

    assert again.payments == 0
    assert [(p.id, p.status, p.unapplied_fen) for p in await payments_of_client(services, tenant)] == before


async def test_a_dry_run_reports_decisions_and_writes_nothing(client, services: Services, tenant: Tenant):
    await make_case(client, tenant, name="王小明", ref="HT2024-000123", principal="1500.00")
    await transfer(services, tenant, line(150_000, memo="还款 HT2024-000123", payer_name="王小明"))

    report = await match_unreferenced(services, client_id=tenant.client_id, dry_run=True)

    [payment] = await payments_of_client(services, tenant)
    assert [d.outcome.value for d in report.decisions] == ["apply"]
    assert payment.status == "unmatched"
    assert await allocations_by_case(services, payment.id) == {}
    assert await review_item(services, payment.id) is None


async def test_one_transfer_for_two_cases_of_one_debtor_is_split_across_both(
    client, services: Services, tenant: Tenant
):
    a = await make_case(client, tenant, name="陈静", ref="HT2024-200001", principal="600.00")
    b = await make_case(client, tenant, name="陈静", ref="HT2024-200002", principal="400.00")
    await transfer(services, tenant, line(100_000, memo="HT2024-200001 HT2024-200002", payer_name="陈静"))

    await match_unreferenced(services, client_id=tenant.client_id)

    [payment] = await payments_of_client(services, tenant)
    assert payment.status == "matched"
    assert await allocations_by_case(services, payment.id) == {a: 60_000, b: 40_000}
    assert payment.unapplied_fen == 0


async def test_a_transfer_is_never_matched_to_another_clients_case(
    client, services: Services, tenant: Tenant, other_tenant: Tenant
):
    await make_case(client, other_tenant, name="王小明", ref="HT2024-000999", principal="1500.00")
    await transfer(services, tenant, line(150_000, memo="还款 HT2024-000999", payer_name="王小明"))

    await match_unreferenced(services, client_id=tenant.client_id)

    [payment] = await payments_of_client(services, tenant)
    item = await review_item(services, payment.id)
    assert payment.status == "review"
    assert item is not None and item.candidates == []


async def test_an_overpayment_leaves_the_surplus_as_credit_on_the_case(
    client, services: Services, tenant: Tenant
):
    case_id = await make_case(client, tenant, name="王小明", ref="HT2024-000124", principal="1500.00")
    await transfer(services, tenant, line(150_050, memo="还款 HT2024-000124", payer_name="王小明"))

    await match_unreferenced(services, client_id=tenant.client_id)

    [payment] = await payments_of_client(services, tenant)
    view = (await client.get(f"/v1/cases/{case_id}", headers=tenant.headers)).json()
    assert payment.status == "matched" and payment.unapplied_fen == 50
    assert view["status"] == "paid" and view["credit_fen"] == 50


@pytest.mark.parametrize("amount_fen", [1, 99_999_999])
async def test_an_odd_amount_with_a_case_number_still_goes_to_the_right_case_or_review(
    client, services: Services, tenant: Tenant, amount_fen: int
):
    case_id = await make_case(client, tenant, name="王小明", ref="HT2024-000125", principal="1500.00")
    await transfer(services, tenant, line(amount_fen, memo="HT2024-000125", payer_name="王小明"))

    await match_unreferenced(services, client_id=tenant.client_id)

    [payment] = await payments_of_client(services, tenant)
    placed = await allocations_by_case(services, payment.id)
    assert placed in ({}, {case_id: min(amount_fen, 150_000)})
