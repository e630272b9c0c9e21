"""The receiver goes down for a while and comes back: nothing is lost, order per case holds, and a
duplicate is always the same message (same webhook-id, same body)."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import timedelta

import httpx

from tests.webhooks.conftest import emit_updates, new_case, register, unreachable

CASES, EVENTS_PER_CASE = 6, 5


async def _emit_interleaved(services, tenant, case_ids):  # type: ignore[no-untyped-def]
    """Events for several cases, interleaved; the event ids of each case in emit order."""
    expected: dict[str, list[str]] = defaultdict(list)
    for round_ in range(EVENTS_PER_CASE):
        for case_id in case_ids:
            [event_id] = await emit_updates(services, tenant, case_id, [1000 - round_])
            expected[case_id].append(event_id)
    return expected


async def test_receiver_down_then_back_gets_every_event_in_order_per_case(
    client, services, tenant, receiver, dispatcher, clock
):
    hook = receiver.hook()
    await register(client, tenant, hook, ["case.updated"])
    case_ids = [await new_case(client, tenant) for _ in range(CASES)]
    hook.answer = unreachable
    expected = await _emit_interleaved(services, tenant, case_ids)
    for _ in range(4):  # down for about 35 minutes: the first retries fail too
        await dispatcher.drain()
        clock.advance(timedelta(minutes=12))
    hook.answer = None
    for _ in range(EVENTS_PER_CASE + 2):
        clock.advance(timedelta(hours=3))
        await dispatcher.drain()
    assert receiver.refused == []
    assert {c: ids for c, ids in hook.by_case().items() if c in expected} == expected


async def test_duplicates_are_the_same_message_with_the_same_webhook_id(
    client, services, tenant, receiver, dispatcher, clock
):
    hook = receiver.hook()
    await register(client, tenant, hook, ["case.updated"])
    case_ids = [await new_case(client, tenant) for _ in range(CASES)]
    rng = random.Random(3)
    # The receiver processes each request but a third of its answers are lost (500 after processing).
    hook.answer = lambda _r: httpx.Response(500 if rng.random() < 0.33 else 204)
    expected = await _emit_interleaved(services, tenant, case_ids)
    for _ in range(12):
        await dispatcher.drain()
        clock.advance(timedelta(hours=11))
    seen: dict[str, set[tuple[str, bytes]]] = defaultdict(set)
    for d in hook.arrived:
        seen[d.webhook_id].add((d.body["id"], d.raw))
    assert len(hook.arrived) > len(seen)  # there were duplicates
    assert all(len(versions) == 1 for versions in seen.values())
    assert sorted(e for ids in expected.values() for e in ids) == sorted(d.body["id"] for d in hook.received)


async def test_a_commit_that_writes_events_wakes_the_dispatcher(
    client, services, tenant, receiver, dispatcher
):
    hook = receiver.hook()
    await register(client, tenant, hook, ["case.updated"])
    case_id = await new_case(client, tenant)
    dispatcher.wake_on_commit()
    await emit_updates(services, tenant, case_id, [5])
    for _ in range(200):  # no drain: only the wake can deliver it
        if hook.received:
            break
        await asyncio.sleep(0.01)
    assert hook.types() == ["case.updated"]
