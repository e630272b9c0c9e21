"""Two matching runs at once on PostgreSQL end as one run would: every payment decided once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from payments.persistence.tables import OutboxEvent
from payments.services.container import Services
from reconciliation.matching import match_unreferenced
from tests.conftest import Tenant
from tests.matching.conftest import allocations_by_case, line, make_case, payments_of_client, transfer

pytestmark = pytest.mark.postgres


async def test_two_concurrent_matching_runs_apply_each_payment_once(
    client, services: Services, tenant: Tenant, is_postgres: bool
):
    if not is_postgres:
        pytest.skip("needs PostgreSQL: SQLite runs one writer on one connection, so runs cannot race there")
    cases = [
        await make_case(client, tenant, name="王小明", ref=f"HT2024-6{i:05d}", principal="100.00")
        for i in range(30)
    ]
    await transfer(
        services, tenant, *(line(10_000, memo=f"HT2024-6{i:05d}", payer_name="王小明") for i in range(30))
    )

    first, second = await asyncio.gather(
        match_unreferenced(services, client_id=tenant.client_id),
        match_unreferenced(services, client_id=tenant.client_id),
    )

    assert first.applied + second.applied == 30
    assert first.skipped + second.skipped == first.payments + second.payments - 30
    payments = await payments_of_client(services, tenant)
    assert {p.status for p in payments} == {"matched"}
    placed = [await allocations_by_case(services, p.id) for p in payments]
    assert sorted(c for p in placed for c in p) == sorted(cases)
    async with services.db.sessions() as session:
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.client_id == tenant.client_id, OutboxEvent.type == "payment.matched")
        )
    assert events == 30
