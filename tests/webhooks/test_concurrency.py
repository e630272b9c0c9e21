"""Several dispatchers on one PostgreSQL database (SQLite runs one dispatcher in one process)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx
import pytest

from payments.outbox.dispatcher import Dispatcher
from payments.persistence.db import Database
from payments.services.outbox import emit
from tests.webhooks.conftest import deliveries_of, new_case, register, updated_payload

CASES, EVENTS_PER_CASE = 20, 10


async def test_two_dispatchers_never_send_the_same_attempt_twice(
    client, services, tenant, receiver, clock, is_postgres
):
    if not is_postgres:
        pytest.skip("SKIP LOCKED claims between processes exist only on PostgreSQL")
    hook = receiver.hook()
    endpoint_id = await register(client, tenant, hook, ["case.updated"])
    rng = random.Random(5)

    async def slow(_request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(rng.random() / 100)  # requests overlap between the two dispatchers
        return httpx.Response(204)

    hook.answer = slow
    expected = {}
    for _ in range(CASES):
        case_id = await new_case(client, tenant)
        async with services.db.transaction() as session:
            expected[case_id] = [
                emit(
                    session,
                    tenant.client_id,
                    "case.updated",
                    case_id=case_id,
                    payload=updated_payload(case_id, n),
                )
                for n in range(EVENTS_PER_CASE)
            ]
    databases = [Database(services.db.url, pool_size=5) for _ in range(2)]
    dispatchers = [
        Dispatcher(db, services.pii, transport=receiver.transport, clock=clock, batch=7) for db in databases
    ]
    try:
        await asyncio.gather(*(d.drain() for d in dispatchers))
    finally:
        for d, db in zip(dispatchers, databases, strict=True):
            await d.aclose()
            await db.dispose()
    assert all(d.attempts_made > 0 for d in dispatchers)  # both took part
    attempts = Counter((d.message_id, d.attempt) for d in await deliveries_of(services, endpoint_id))
    assert Counter(d.webhook_id for d in hook.arrived).most_common(1)[0][1] == 1
    assert len(hook.arrived) == CASES * EVENTS_PER_CASE == sum(attempts.values()) == len(attempts)
    assert {c: ids for c, ids in hook.by_case().items() if c in expected} == expected


async def test_a_commit_in_another_process_wakes_the_dispatcher_by_notify(
    client, services, tenant, receiver, clock, is_postgres
):
    if not is_postgres:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite runs one process")
    hook = receiver.hook()
    await register(client, tenant, hook, ["case.updated"])
    case_id = await new_case(client, tenant)
    elsewhere = Database(services.db.url, pool_size=2)  # its own pool: the in-process wake cannot reach it
    dispatcher = Dispatcher(elsewhere, services.pii, transport=receiver.transport, clock=clock)
    try:
        dispatcher.wake_on_commit()
        await asyncio.sleep(0.3)  # LISTEN is in place
        async with services.db.transaction() as session:
            emit(
                session,
                tenant.client_id,
                "case.updated",
                case_id=case_id,
                payload=updated_payload(case_id, 1),
            )
        for _ in range(300):  # no drain, no interval: only the NOTIFY can deliver it
            if hook.received:
                break
            await asyncio.sleep(0.01)
    finally:
        await dispatcher.aclose()
        await elsewhere.dispose()
    assert hook.types() == ["case.updated"]
