"""Retries, the delivery log, endpoint health and the order per case."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from payments.outbox.dispatcher import Dispatcher
from tests.webhooks.conftest import (
    answering,
    deliveries_of,
    emit_updates,
    endpoint_row,
    messages_of,
    new_case,
    register,
    unreachable,
)


async def _one_update(client, services, tenant, receiver, **answer):  # type: ignore[no-untyped-def]
    hook = receiver.hook()
    endpoint_id = await register(client, tenant, hook, ["case.updated"])
    if answer:
        hook.answer = answer["answer"]
    case_id = await new_case(client, tenant)
    await emit_updates(services, tenant, case_id, [90_000])
    return hook, endpoint_id, case_id


async def test_a_5xx_is_tried_again_about_5_seconds_later(
    client, services, tenant, receiver, dispatcher, clock
):
    _hook, endpoint_id, _ = await _one_update(client, services, tenant, receiver, answer=answering(503))
    await dispatcher.drain()
    [message] = await messages_of(services, endpoint_id)
    assert message.status == "pending"
    assert (
        timedelta(seconds=4.5) <= message.next_attempt_at - message.last_attempt_at <= timedelta(seconds=5.6)
    )


async def test_a_retry_is_not_sent_before_its_time(client, services, tenant, receiver, dispatcher, clock):
    hook, _, _ = await _one_update(client, services, tenant, receiver, answer=answering(500))
    await dispatcher.drain()
    clock.advance(timedelta(seconds=4))
    await dispatcher.drain()
    assert hook.received == []


async def test_a_retry_is_sent_once_its_time_comes(client, services, tenant, receiver, dispatcher, clock):
    hook, _, _ = await _one_update(client, services, tenant, receiver, answer=answering(500))
    await dispatcher.drain()
    clock.advance(timedelta(seconds=6))
    await dispatcher.drain()
    assert hook.types() == ["case.updated"]


async def test_network_errors_are_retried(client, services, tenant, receiver, dispatcher, clock):
    hook, endpoint_id, _ = await _one_update(client, services, tenant, receiver, answer=unreachable)
    await dispatcher.drain()
    hook.answer = None
    clock.advance(timedelta(seconds=6))
    await dispatcher.drain()
    assert [d.outcome for d in await deliveries_of(services, endpoint_id)] == ["retry", "delivered"]


async def test_408_and_429_are_retried(client, services, tenant, receiver, dispatcher, clock):
    _hook, endpoint_id, _ = await _one_update(client, services, tenant, receiver, answer=answering(408, 429))
    for _ in range(3):
        await dispatcher.drain()
        clock.advance(timedelta(minutes=6))
    assert [d.status_code for d in await deliveries_of(services, endpoint_id)] == [408, 429, 204]


async def test_retry_after_on_a_429_is_honoured(client, services, tenant, receiver, dispatcher, clock):
    _hook, endpoint_id, _ = await _one_update(
        client, services, tenant, receiver, answer=answering(429, headers={"Retry-After": "120"})
    )
    await dispatcher.drain()
    [message] = await messages_of(services, endpoint_id)
    assert message.next_attempt_at - message.last_attempt_at >= timedelta(seconds=120)


async def test_a_4xx_fails_the_message_without_retrying(
    client, services, tenant, receiver, dispatcher, clock
):
    _hook, endpoint_id, _ = await _one_update(client, services, tenant, receiver, answer=answering(400))
    await dispatcher.drain()
    clock.advance(timedelta(hours=1))
    await dispatcher.drain()
    [message] = await messages_of(services, endpoint_id)
    assert (message.status, message.attempts) == ("failed", 1)


async def test_redirects_are_not_followed(client, services, tenant, receiver, dispatcher):
    def redirect(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"Location": "http://169.254.169.254/latest/meta-data"})

    _hook, endpoint_id, _ = await _one_update(client, services, tenant, receiver, answer=redirect)
    await dispatcher.drain()
    [delivery] = await deliveries_of(services, endpoint_id)
    assert (delivery.status_code, delivery.outcome) == (307, "failed")


async def test_410_disables_the_endpoint(client, services, tenant, receiver, dispatcher):
    _hook, endpoint_id, _ = await _one_update(client, services, tenant, receiver, answer=answering(410))
    await dispatcher.drain()
    view = (await client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=tenant.headers)).json()
    assert (view["status"], view["disabled_reason"]) == ("disabled", "gone")


async def test_a_message_is_given_up_after_eight_attempts(
    client, services, tenant, receiver, dispatcher, clock
):
    _hook, endpoint_id, _ = await _one_update(
        client, services, tenant, receiver, answer=lambda r: httpx.Response(503)
    )
    for _ in range(10):
        await dispatcher.drain()
        clock.advance(timedelta(hours=11))
    [message] = await messages_of(services, endpoint_id)
    assert (message.status, message.attempts) == ("failed", 8)


async def test_an_endpoint_failing_for_five_days_is_disabled_and_flagged(
    client, services, tenant, receiver, dispatcher, clock
):
    hook = receiver.hook()
    endpoint_id = await register(client, tenant, hook, ["case.updated"])
    hook.answer = unreachable
    case_id = await new_case(client, tenant)
    for _ in range(6):  # a new event each day keeps the endpoint being tried
        await emit_updates(services, tenant, case_id, [1])
        await dispatcher.drain()
        clock.advance(timedelta(days=1))
    view = (await client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=tenant.headers)).json()
    assert (view["status"], view["disabled_reason"]) == ("disabled", "failing")


async def test_a_failing_endpoint_shows_since_when_in_the_api(
    client, services, tenant, receiver, dispatcher, clock
):
    _hook, endpoint_id, _ = await _one_update(client, services, tenant, receiver, answer=unreachable)
    await dispatcher.drain()
    view = (await client.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=tenant.headers)).json()
    assert view["status"] == "enabled" and view["failing_since"] is not None


async def test_a_success_clears_the_failure_flag(client, services, tenant, receiver, dispatcher, clock):
    _hook, endpoint_id, _ = await _one_update(client, services, tenant, receiver, answer=answering(500))
    await dispatcher.drain()
    clock.advance(timedelta(seconds=6))
    await dispatcher.drain()
    assert (await endpoint_row(services, endpoint_id)).failing_since is None


async def test_each_attempt_is_logged_with_status_latency_and_the_start_of_the_answer(
    client, services, tenant, receiver, dispatcher, clock
):
    _hook, endpoint_id, _ = await _one_update(
        client, services, tenant, receiver, answer=lambda r: httpx.Response(500, text="x" * 5000)
    )
    await dispatcher.drain()
    [delivery] = await deliveries_of(services, endpoint_id)
    assert (delivery.attempt, delivery.status_code, delivery.outcome) == (1, 500, "retry")
    assert delivery.latency_ms >= 0 and delivery.response_body == "x" * 1000


async def test_an_earlier_event_being_retried_holds_back_the_later_ones_of_its_case(
    client, services, tenant, receiver, dispatcher, clock
):
    hook = receiver.hook()
    await register(client, tenant, hook, ["case.updated"])
    hook.answer = answering(503)
    case_id = await new_case(client, tenant)
    await emit_updates(services, tenant, case_id, [3, 2, 1])
    await dispatcher.drain()
    assert hook.received == []


async def test_held_back_events_follow_in_order_once_the_earlier_one_is_delivered(
    client, services, tenant, receiver, dispatcher, clock
):
    hook = receiver.hook()
    await register(client, tenant, hook, ["case.updated"])
    hook.answer = answering(503)
    case_id = await new_case(client, tenant)
    ids = await emit_updates(services, tenant, case_id, [3, 2, 1])
    await dispatcher.drain()
    clock.advance(timedelta(seconds=6))
    await dispatcher.drain()
    assert hook.by_case()[case_id] == ids


async def test_events_of_another_case_do_not_wait(client, services, tenant, receiver, dispatcher, clock):
    hook = receiver.hook()
    await register(client, tenant, hook, ["case.updated"])
    stuck, free = await new_case(client, tenant), await new_case(client, tenant)
    hook.answer = lambda r: httpx.Response(503 if stuck in r.content.decode() else 204)
    await emit_updates(services, tenant, stuck, [1])
    await emit_updates(services, tenant, free, [2])
    await dispatcher.drain()
    assert list(hook.by_case()) == [free]


async def test_a_receiver_too_slow_to_answer_counts_as_a_failed_attempt(
    client, services, tenant, receiver, clock
):
    async def stalls(_request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(204)

    _hook, endpoint_id, _ = await _one_update(client, services, tenant, receiver, answer=stalls)
    impatient = Dispatcher(services.db, services.pii, transport=receiver.transport, timeout=0.2, clock=clock)
    try:
        await impatient.drain()
    finally:
        await impatient.aclose()
    [delivery] = await deliveries_of(services, endpoint_id)
    assert (delivery.status_code, delivery.outcome, delivery.error.startswith("Timeout")) == (
        None,
        "retry",
        True,
    )
