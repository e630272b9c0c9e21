"""The ledger invariant job and closing a reconciliation day."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from payments.persistence.tables import Debt, PaymentException
from payments.persistence.tables_recon import ReconDay
from payments.services.container import Services
from providers.base import BEIJING
from reconciliation.days import close_day
from reconciliation.ledger import KIND, check_ledger
from reconciliation.matching import match_unreferenced
from tests.conftest import Tenant
from tests.matching.conftest import events_of, line, make_case, transfer


async def _matched(client, services: Services, tenant: Tenant) -> str:
    case_id = await make_case(client, tenant, name="王小明", ref="HT2024-500001", principal="1500.00")
    await transfer(services, tenant, line(100_000, memo="HT2024-500001", payer_name="王小明"))
    await match_unreferenced(services, client_id=tenant.client_id)
    return case_id


async def _ledger_exceptions(services: Services, tenant: Tenant) -> list[PaymentException]:
    async with services.db.sessions() as session:
        rows = await session.scalars(
            select(PaymentException).where(
                PaymentException.client_id == tenant.client_id, PaymentException.kind == KIND
            )
        )
        return list(rows)


async def test_the_ledger_holds_for_payments_applied_by_the_matching_job(
    client, services: Services, tenant: Tenant
):
    await _matched(client, services, tenant)

    report = await check_ledger(services)

    assert [v for v in report.violations if v.client_id == tenant.client_id] == []
    assert await _ledger_exceptions(services, tenant) == []


async def test_a_debt_changed_behind_the_ledgers_back_is_reported_once(
    client, services: Services, tenant: Tenant
):
    case_id = await _matched(client, services, tenant)
    async with services.db.transaction() as session:
        await session.execute(
            update(Debt).where(Debt.case_id == case_id).values(principal_fen=Debt.principal_fen - 1)
        )

    first = await check_ledger(services)
    await check_ledger(services)

    mine = [v for v in first.violations if v.client_id == tenant.client_id]
    assert [(v.entity, v.detail["component"]) for v in mine] == [("debt", "principal")]
    [exception] = await _ledger_exceptions(services, tenant)
    assert exception.details["entity"] == "debt"
    # repair, so the session-wide database stays whole for other tests
    async with services.db.transaction() as session:
        await session.execute(
            update(Debt).where(Debt.case_id == case_id).values(principal_fen=Debt.principal_fen + 1)
        )


async def test_closing_a_day_keeps_its_figures_and_emits_day_closed_once(
    client, services: Services, tenant: Tenant
):
    await _matched(client, services, tenant)
    today = datetime.now(BEIJING).date()

    await close_day(services, "bank_transfer", today)
    await close_day(services, "bank_transfer", today)

    [event] = await events_of(services, tenant, "reconciliation.day_closed")
    assert (event["business_date"], event["payments_count"], event["matched_count"]) == (
        today.isoformat(),
        1,
        1,
    )
    async with services.db.sessions() as session:
        kept = await session.scalar(select(ReconDay).where(ReconDay.client_id == tenant.client_id))
    assert kept is not None and kept.runs == 2 and kept.report["payments_fen"] == 100_000
