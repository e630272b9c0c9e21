"""Replay: one message, or everything since a time, through the API and the CLI; always with the
original webhook-id, and in order per case."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

from payments.persistence.db import utcnow
from tests.api.conftest import assert_problem
from tests.webhooks.conftest import answering, emit_updates, messages_of, new_case, register


async def _delivered(client, services, tenant, receiver, dispatcher, totals):  # type: ignore[no-untyped-def]
    hook = receiver.hook()
    endpoint_id = await register(client, tenant, hook, ["case.updated"])
    case_id = await new_case(client, tenant)
    ids = await emit_updates(services, tenant, case_id, totals)
    await dispatcher.drain()
    assert len(hook.received) == len(totals)
    return hook, endpoint_id, case_id, ids


async def test_replaying_a_message_sends_it_again_with_the_same_webhook_id(
    client, services, tenant, receiver, dispatcher
):
    hook, endpoint_id, _, _ = await _delivered(client, services, tenant, receiver, dispatcher, [5])
    first = hook.received[0]
    resp = await client.post(
        f"/v1/webhook-endpoints/{endpoint_id}/messages/{first.webhook_id}/replay", headers=tenant.headers
    )
    assert resp.status_code == 202, resp.text
    await dispatcher.drain()
    assert [(d.webhook_id, d.raw) for d in hook.received] == [(first.webhook_id, first.raw)] * 2


async def test_replaying_another_clients_message_is_a_404(
    client, services, tenant, other_tenant, receiver, dispatcher
):
    hook, endpoint_id, _, _ = await _delivered(client, services, tenant, receiver, dispatcher, [5])
    resp = await client.post(
        f"/v1/webhook-endpoints/{endpoint_id}/messages/{hook.received[0].webhook_id}/replay",
        headers=other_tenant.headers,
    )
    assert_problem(resp, 404, "not-found")


async def test_replay_since_sends_everything_from_that_time_again_in_order(
    client, services, tenant, receiver, dispatcher
):
    hook, endpoint_id, case_id, ids = await _delivered(
        client, services, tenant, receiver, dispatcher, [3, 2, 1]
    )
    since = (utcnow() - timedelta(minutes=5)).isoformat()
    resp = await client.post(
        f"/v1/webhook-endpoints/{endpoint_id}/replay", json={"since": since}, headers=tenant.headers
    )
    assert resp.json() == {"replayed": 3}
    await dispatcher.drain()
    assert hook.by_case()[case_id] == ids + ids


async def test_replay_since_a_later_time_leaves_earlier_messages_alone(
    client, services, tenant, receiver, dispatcher
):
    _, endpoint_id, _, _ = await _delivered(client, services, tenant, receiver, dispatcher, [3, 2])
    since = (utcnow() + timedelta(minutes=5)).isoformat()
    resp = await client.post(
        f"/v1/webhook-endpoints/{endpoint_id}/replay", json={"since": since}, headers=tenant.headers
    )
    assert resp.json() == {"replayed": 0}


async def test_replay_of_only_undelivered_messages_skips_the_delivered_ones(
    client, services, tenant, receiver, dispatcher
):
    hook = receiver.hook()
    endpoint_id = await register(client, tenant, hook, ["case.updated"])
    case_id = await new_case(client, tenant)
    await emit_updates(services, tenant, case_id, [3])
    await dispatcher.drain()
    hook.answer = answering(400)  # the second message fails for good
    [failed] = await emit_updates(services, tenant, case_id, [2])
    await dispatcher.drain()
    since = (utcnow() - timedelta(minutes=5)).isoformat()
    resp = await client.post(
        f"/v1/webhook-endpoints/{endpoint_id}/replay",
        json={"since": since, "only_undelivered": True},
        headers=tenant.headers,
    )
    await dispatcher.drain()
    assert resp.json() == {"replayed": 1}
    assert [d.body["id"] for d in hook.received][-1] == failed


async def test_a_naive_since_is_a_422(client, services, tenant, receiver, dispatcher):
    _, endpoint_id, _, _ = await _delivered(client, services, tenant, receiver, dispatcher, [1])
    resp = await client.post(
        f"/v1/webhook-endpoints/{endpoint_id}/replay",
        json={"since": "2026-11-28T00:00:00"},
        headers=tenant.headers,
    )
    assert_problem(resp, 422, "validation-error", "since")


async def test_replay_to_a_disabled_endpoint_is_a_409(client, services, tenant, receiver, dispatcher):
    _, endpoint_id, _, _ = await _delivered(client, services, tenant, receiver, dispatcher, [1])
    await client.post(f"/v1/webhook-endpoints/{endpoint_id}/disable", headers=tenant.headers)
    resp = await client.post(
        f"/v1/webhook-endpoints/{endpoint_id}/replay",
        json={"since": utcnow().isoformat()},
        headers=tenant.headers,
    )
    assert_problem(resp, 409, "conflict")


async def test_events_while_disabled_are_skipped_and_replayable_after_enabling(
    client, services, tenant, receiver, dispatcher
):
    hook = receiver.hook()
    endpoint_id = await register(client, tenant, hook, ["case.updated"])
    case_id = await new_case(client, tenant)
    await client.post(f"/v1/webhook-endpoints/{endpoint_id}/disable", headers=tenant.headers)
    [missed] = await emit_updates(services, tenant, case_id, [7])
    await dispatcher.drain()
    assert [m.status for m in await messages_of(services, endpoint_id)] == ["skipped"]
    await client.post(f"/v1/webhook-endpoints/{endpoint_id}/enable", headers=tenant.headers)
    since = (utcnow() - timedelta(minutes=5)).isoformat()
    await client.post(
        f"/v1/webhook-endpoints/{endpoint_id}/replay", json={"since": since}, headers=tenant.headers
    )
    await dispatcher.drain()
    assert [d.body["id"] for d in hook.received] == [missed]


async def _cli(settings, *args: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAYRECON_")},
        "PAYRECON_DATA_DIR": settings.data_dir,
        "PAYRECON_DATABASE__URL": settings.database.url,
        "PAYRECON_LOGGING__LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "payments.cli",
        "webhooks",
        "replay",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_the_cli_replays_one_message(client, services, settings, tenant, receiver, dispatcher):
    hook, _, _, _ = await _delivered(client, services, tenant, receiver, dispatcher, [5])
    code, out = await _cli(settings, "--message", hook.received[0].webhook_id)
    assert code == 0, out
    await dispatcher.drain()
    assert [d.webhook_id for d in hook.received] == [hook.received[0].webhook_id] * 2


async def test_the_cli_replays_everything_since_a_time(
    client, services, settings, tenant, receiver, dispatcher
):
    hook, endpoint_id, case_id, ids = await _delivered(client, services, tenant, receiver, dispatcher, [3, 2])
    since = (utcnow() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S+0000")
    code, out = await _cli(settings, "--endpoint", endpoint_id, "--since", since)
    assert code == 0 and "queued 2 messages" in out, out
    await dispatcher.drain()
    assert hook.by_case()[case_id] == ids + ids


async def test_the_cli_names_an_unknown_message(settings):
    code, out = await _cli(settings, "--message", "msg_unknown")
    assert (code, "no such webhook message" in out) == (1, True)
