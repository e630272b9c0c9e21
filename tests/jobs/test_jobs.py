"""The scheduled jobs: idempotent, and never run twice at once on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from payments.persistence.tables import Link, OutboxEvent
from reconciliation.jobs import expire_links, job_lock, run_locked
from tests.api.conftest import case_body


async def _link(client, tenant) -> str:  # type: ignore[no-untyped-def]
    case = await client.post("/v1/cases", json=case_body(), headers=tenant.headers)
    link = await client.post(f"/v1/cases/{case.json()['id']}/links", json={}, headers=tenant.headers)
    assert link.status_code == 201
    return link.json()["id"]


async def _expired_events(services, link_id: str) -> int:  # type: ignore[no-untyped-def]
    async with services.db.sessions() as session:
        return int(await session.scalar(
            select(func.count()).select_from(OutboxEvent)
            .where(OutboxEvent.type == "link.expired", OutboxEvent.payload["link_id"].as_string() == link_id)
        ))


async def test_expire_links_marks_a_link_past_its_expiry(client, services, tenant):
    link_id = await _link(client, tenant)
    await expire_links(services, now=datetime.now(UTC) + timedelta(days=8))
    async with services.db.sessions() as session:
        assert (await session.get_one(Link, link_id)).status == "expired"


async def test_expire_links_leaves_a_link_before_its_expiry(client, services, tenant):
    link_id = await _link(client, tenant)
    await expire_links(services, now=datetime.now(UTC) + timedelta(days=6))
    async with services.db.sessions() as session:
        assert (await session.get_one(Link, link_id)).status == "active"


async def test_expire_links_twice_emits_one_event(client, services, tenant):
    link_id = await _link(client, tenant)
    later = datetime.now(UTC) + timedelta(days=8)
    await expire_links(services, now=later)
    await expire_links(services, now=later)
    assert await _expired_events(services, link_id) == 1


async def test_job_lock_is_exclusive_on_postgres(services, is_postgres):
    if not is_postgres:
        pytest.skip("advisory locks exist only on PostgreSQL; SQLite runs one process")
    async with job_lock(services.db, "test-exclusive") as first:
        async with job_lock(services.db, "test-exclusive") as second:
            assert (first, second) == (True, False)


async def test_job_lock_is_released_after_the_run(services):
    async with job_lock(services.db, "test-release") as first:
        assert first
    async with job_lock(services.db, "test-release") as again:
        assert again


async def test_run_locked_skips_while_another_holds_the_lock(services, is_postgres):
    if not is_postgres:
        pytest.skip("advisory locks exist only on PostgreSQL")
    ran: list[int] = []

    async def job() -> int:
        ran.append(1)
        return 1

    async with job_lock(services.db, "test-skip"):
        assert await run_locked(services.db, "test-skip", job) is None
    assert ran == []
