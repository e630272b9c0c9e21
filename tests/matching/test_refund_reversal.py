"""A refund takes money back from the cases it was applied to: the credit first, then the last
component paid, reopening a case the payment had closed; once per refund."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from payments.domain.errors import Conflict, FieldError
from payments.persistence.tables import AllocationRow, Payment, Refund
from payments.services.container import Services
from payments.services.refunds import confirm_manual_refund, reverse_refund, start_refund
from reconciliation.ledger import find_violations
from reconciliation.matching import match_unreferenced
from tests.conftest import Tenant
from tests.matching.conftest import events_of, line, make_case, payments_of_client, transfer


async def _paid_case(
    client, services: Services, tenant: Tenant, *, pay_fen: int = 115_000
) -> tuple[str, Payment]:
    case_id = await make_case(
        client, tenant, name="李四", ref="HT2024-300001", principal="1000.00", interest="100.00", fees="50.00"
    )
    await transfer(services, tenant, line(pay_fen, memo="HT2024-300001", payer_name="李四"))
    await match_unreferenced(services, client_id=tenant.client_id)
    [payment] = await payments_of_client(services, tenant)
    assert payment.status == "matched"
    return case_id, payment


async def _refund(services: Services, payment: Payment, amount_fen: int) -> Refund:
    refund = await start_refund(services, payment.id, amount_fen, actor="staff:test", reason="多付退款")
    return await confirm_manual_refund(services, refund.id, actor="staff:test")


async def _case(client, tenant: Tenant, case_id: str) -> dict:
    resp = await client.get(f"/v1/cases/{case_id}", headers=tenant.headers)
    return resp.json()


async def test_a_refund_of_a_transfer_that_paid_a_case_reopens_it(client, services: Services, tenant: Tenant):
    case_id, payment = await _paid_case(client, services, tenant)
    assert (await _case(client, tenant, case_id))["status"] == "paid"

    await _refund(services, payment, 115_000)

    view = await _case(client, tenant, case_id)
    assert view["status"] == "open"
    assert view["balance"]["total_fen"] == 115_000


async def test_a_partial_refund_takes_back_principal_before_interest_and_fees(
    client, services: Services, tenant: Tenant
):
    case_id, payment = await _paid_case(client, services, tenant)

    await _refund(services, payment, 100_500)  # all 1000.00 principal, then 5.00 of the interest

    balance = (await _case(client, tenant, case_id))["balance"]
    assert (balance["fees_fen"], balance["interest_fen"], balance["principal_fen"]) == (0, 500, 100_000)


async def test_a_refund_takes_back_the_credit_before_any_allocation(
    client, services: Services, tenant: Tenant
):
    case_id, payment = await _paid_case(client, services, tenant, pay_fen=115_300)  # 3.00 more than owed

    await _refund(services, payment, 300)

    view = await _case(client, tenant, case_id)
    assert (view["status"], view["credit_fen"], view["balance"]["total_fen"]) == ("paid", 0, 0)


async def test_a_refund_writes_negative_allocation_rows_and_keeps_the_originals(
    client, services: Services, tenant: Tenant
):
    _, payment = await _paid_case(client, services, tenant)

    await _refund(services, payment, 115_000)

    async with services.db.sessions() as session:
        amounts = list(
            await session.scalars(
                select(AllocationRow.amount_fen).where(AllocationRow.payment_id == payment.id)
            )
        )
    assert sum(a for a in amounts if a > 0) == 115_000
    assert sum(a for a in amounts if a < 0) == -115_000


async def test_a_full_refund_marks_the_payment_refunded_and_emits_payment_refunded(
    client, services: Services, tenant: Tenant
):
    _, payment = await _paid_case(client, services, tenant)

    refund = await _refund(services, payment, 115_000)

    [after] = await payments_of_client(services, tenant)
    [event] = await events_of(services, tenant, "payment.refunded")
    assert after.status == "refunded"
    assert (event["payment_id"], event["refund_id"], event["amount_fen"]) == (payment.id, refund.id, 115_000)


async def test_a_refund_is_taken_back_from_the_cases_only_once(client, services: Services, tenant: Tenant):
    case_id, payment = await _paid_case(client, services, tenant)
    refund = await _refund(services, payment, 50_000)

    async with services.db.transaction() as session:
        row = await session.get_one(Refund, refund.id)
        again = await reverse_refund(session, row)
    with pytest.raises(Conflict):
        await confirm_manual_refund(services, refund.id, actor="staff:test")

    assert again is False
    assert (await _case(client, tenant, case_id))["balance"]["total_fen"] == 50_000


async def test_a_refund_above_what_is_left_to_refund_is_refused_and_changes_nothing(
    client, services: Services, tenant: Tenant
):
    _, payment = await _paid_case(client, services, tenant)
    await _refund(services, payment, 100_000)

    with pytest.raises(FieldError) as err:
        await start_refund(services, payment.id, 15_001, actor="staff:test", reason="再退")

    assert err.value.field == "amount"
    async with services.db.sessions() as session:
        count = len(list(await session.scalars(select(Refund).where(Refund.payment_id == payment.id))))
    assert count == 1


async def test_the_ledger_holds_after_refunds(client, services: Services, tenant: Tenant):
    _, payment = await _paid_case(client, services, tenant, pay_fen=115_300)
    await _refund(services, payment, 300)
    await _refund(services, payment, 60_000)

    async with services.db.sessions() as session:
        report = await find_violations(session)

    assert [v for v in report.violations if v.client_id == tenant.client_id] == []


async def test_a_refund_of_a_split_payments_surplus_takes_the_credit_from_the_case_that_holds_it(
    client, services: Services, tenant: Tenant
):
    a = await make_case(client, tenant, name="陈静", ref="HT2024-310001", principal="600.00")
    b = await make_case(client, tenant, name="陈静", ref="HT2024-310002", principal="400.00")
    await transfer(services, tenant, line(100_050, memo="HT2024-310001 HT2024-310002", payer_name="陈静"))
    await match_unreferenced(services, client_id=tenant.client_id)
    [payment] = await payments_of_client(services, tenant)
    credits = [(await _case(client, tenant, c))["credit_fen"] for c in (a, b)]
    assert payment.status == "matched" and sum(credits) == 50

    await _refund(services, payment, 50)

    views = [await _case(client, tenant, c) for c in (a, b)]
    assert [v["credit_fen"] for v in views] == [0, 0]
    assert [v["status"] for v in views] == ["paid", "paid"]
