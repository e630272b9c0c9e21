"""Delivery: fan-out, signing, the outbox transaction, what the receiver gets."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from payments.persistence.tables import WebhookPending
from payments.services.outbox import emit
from tests.api.conftest import ID_NUMBER, NAME, PHONE
from tests.webhooks.conftest import (
    emit_updates,
    messages_of,
    new_case,
    register,
    updated_payload,
)


async def test_an_emitted_event_is_delivered_signed_per_standard_webhooks(
    client, services, tenant, receiver, dispatcher
):
    hook = receiver.hook()
    await register(client, tenant, hook)
    case_id = await new_case(client, tenant)
    [event_id] = await emit_updates(services, tenant, case_id, [90_000])
    await dispatcher.drain()
    assert receiver.refused == []
    assert [(d.body["type"], d.body["id"]) for d in hook.received] == [("case.updated", event_id)]


async def test_the_webhook_id_is_the_message_id_and_the_body_is_the_stored_one(
    client, services, tenant, receiver, dispatcher
):
    hook = receiver.hook()
    endpoint_id = await register(client, tenant, hook)
    case_id = await new_case(client, tenant)
    await emit_updates(services, tenant, case_id, [90_000])
    await dispatcher.drain()
    [message] = [m for m in await messages_of(services, endpoint_id) if m.event_type == "case.updated"]
    [delivery] = [d for d in hook.received if d.body["type"] == "case.updated"]
    assert (delivery.webhook_id, delivery.raw) == (message.id, message.body)


async def test_the_body_carries_type_id_version_timestamp_and_data(
    client, services, tenant, receiver, dispatcher
):
    hook = receiver.hook()
    await register(client, tenant, hook, ["case.updated"])
    case_id = await new_case(client, tenant)
    await emit_updates(services, tenant, case_id, [90_000])
    await dispatcher.drain()
    body = hook.received[0].body
    assert list(body) == ["type", "id", "version", "timestamp", "data"]
    assert body["data"]["balance"]["total_fen"] == 90_000


async def test_an_endpoint_gets_only_its_subscribed_event_types(
    client, services, tenant, receiver, dispatcher
):
    hook = receiver.hook()
    await register(client, tenant, hook, ["case.closed"])
    case_id = await new_case(client, tenant)
    await emit_updates(services, tenant, case_id, [90_000])
    async with services.db.transaction() as session:
        emit(
            session,
            tenant.client_id,
            "case.closed",
            case_id=case_id,
            payload={"case_id": case_id, "status": "paid"},
        )
    await dispatcher.drain()
    assert hook.types() == ["case.closed"]


async def test_every_endpoint_of_the_client_gets_its_own_message(
    client, services, tenant, receiver, dispatcher
):
    first, second = receiver.hook(), receiver.hook()
    await register(client, tenant, first, ["case.updated"])
    await register(client, tenant, second, ["case.updated"])
    case_id = await new_case(client, tenant)
    await emit_updates(services, tenant, case_id, [90_000])
    await dispatcher.drain()
    assert first.received[0].body == second.received[0].body
    assert first.received[0].webhook_id != second.received[0].webhook_id


async def test_another_clients_events_never_reach_the_endpoint(
    client, services, tenant, other_tenant, receiver, dispatcher
):
    hook = receiver.hook()
    await register(client, tenant, hook)
    other_case = await new_case(client, other_tenant)
    await emit_updates(services, other_tenant, other_case, [1])
    await dispatcher.drain()
    assert other_case not in hook.by_case()


async def test_an_event_gets_a_pending_row_in_its_own_transaction(services, tenant, client):
    case_id = await new_case(client, tenant)
    async with services.db.transaction() as session:
        event_id = emit(
            session, tenant.client_id, "case.updated", case_id=case_id, payload=updated_payload(case_id, 5)
        )
        await session.flush()
        pending = await session.scalar(
            select(func.count()).select_from(WebhookPending).where(WebhookPending.event_id == event_id)
        )
    assert pending == 1


async def test_an_event_rolled_back_with_its_change_is_never_delivered(
    client, services, tenant, receiver, dispatcher
):
    hook = receiver.hook()
    await register(client, tenant, hook, ["case.updated"])
    case_id = await new_case(client, tenant)
    with pytest.raises(RuntimeError):
        async with services.db.transaction() as session:
            emit(
                session,
                tenant.client_id,
                "case.updated",
                case_id=case_id,
                payload=updated_payload(case_id, 5),
            )
            await session.flush()
            raise RuntimeError("the change failed")
    await dispatcher.drain()
    assert hook.received == []


async def test_an_event_is_fanned_out_once_however_often_the_dispatcher_runs(
    client, services, tenant, receiver, dispatcher
):
    hook = receiver.hook()
    endpoint_id = await register(client, tenant, hook, ["case.updated"])
    case_id = await new_case(client, tenant)
    await emit_updates(services, tenant, case_id, [90_000])
    await asyncio.gather(dispatcher.drain(), dispatcher.drain())
    await dispatcher.drain()
    assert len(await messages_of(services, endpoint_id)) == 1
    assert len(hook.received) == 1


async def test_events_emitted_in_one_transaction_arrive_in_emit_order(
    client, services, tenant, receiver, dispatcher
):
    hook = receiver.hook()
    await register(client, tenant, hook, ["case.updated"])
    case_id = await new_case(client, tenant)
    async with services.db.transaction() as session:
        ids = [
            emit(
                session,
                tenant.client_id,
                "case.updated",
                case_id=case_id,
                payload=updated_payload(case_id, n),
            )
            for n in range(30, 0, -1)
        ]
    await dispatcher.drain()
    assert hook.by_case()[case_id] == ids


async def test_a_payment_sends_received_matched_and_updated_in_that_order(
    client, services, tenant, receiver, dispatcher, pay
):
    hook = receiver.hook()
    await register(client, tenant, hook)
    case_id = await new_case(client, tenant)
    await pay(tenant, case_id, 10_000)
    await dispatcher.drain()
    assert [t for t in hook.types() if t.startswith(("payment.", "case."))] == [
        "payment.received",
        "payment.matched",
        "case.updated",
    ]


async def test_webhook_bodies_carry_no_personal_data(client, services, tenant, receiver, dispatcher, pay):
    hook = receiver.hook()
    await register(client, tenant, hook)
    case_id = await new_case(client, tenant)
    await client.post(f"/v1/cases/{case_id}/links", json={}, headers=tenant.headers)
    await pay(tenant, case_id, 10_000)
    await dispatcher.drain()
    raw = b"".join(d.raw for d in hook.received).decode()
    assert len(hook.received) >= 4
    for plain in (NAME, PHONE, ID_NUMBER, ID_NUMBER[-4:] + '"'):
        assert plain not in raw
