"""Fan-out: every outbox event becomes one message per subscribed endpoint, in the order emitted.

Each event has a `webhook_pending` row written in its own transaction (see the hook in tables.py). One
fan-out runs at a time (on PostgreSQL a transaction-level advisory lock; SQLite has one process and
the dispatcher's own lock), so message `seq` follows the order events became visible, which is what
the order per case is built on. The body is rendered once here and sent unchanged on every attempt.
Disabled endpoints get their messages as `skipped`, so a replay after enabling can send them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select

from payments.outbox.events import render
from payments.persistence.db import Database
from payments.persistence.ids import new_id
from payments.persistence.tables import OutboxEvent, WebhookEndpoint, WebhookMessage, WebhookPending

FANOUT_LOCK = int.from_bytes(hashlib.sha256(b"payrecon:webhooks:fanout").digest()[:8], "big", signed=True)


async def fan_out(db: Database, now: datetime, limit: int = 500) -> int | None:
    """Turn up to `limit` pending events into messages: the number of events handled, or None when
    another dispatcher holds the fan-out (PostgreSQL)."""
    async with db.transaction() as session:
        if not db.is_sqlite and not await session.scalar(select(func.pg_try_advisory_xact_lock(FANOUT_LOCK))):
            return None
        rows = (
            await session.execute(
                select(WebhookPending.seq, OutboxEvent)
                .join(OutboxEvent, OutboxEvent.id == WebhookPending.event_id)
                .order_by(WebhookPending.seq)
                .limit(limit)
            )
        ).all()
        if not rows:
            return 0
        endpoints: dict[str, list[Any]] = defaultdict(list)
        for ep in await session.execute(
            select(
                WebhookEndpoint.id,
                WebhookEndpoint.client_id,
                WebhookEndpoint.event_types,
                WebhookEndpoint.status,
            )
            .where(
                WebhookEndpoint.client_id.in_({ev.client_id for _, ev in rows}),
                WebhookEndpoint.status != "deleted",
            )
            .order_by(WebhookEndpoint.id)
        ):
            endpoints[ep.client_id].append(ep)
        messages = []
        for _, ev in rows:
            targets = [
                ep
                for ep in endpoints.get(ev.client_id, [])
                if ep.event_types is None or ev.type in ep.event_types
            ]
            body = render(ev.type, ev.id, ev.created_at, ev.payload) if targets else None
            if body is None:
                continue
            for ep in targets:
                enabled = ep.status == "enabled"
                messages.append(
                    {
                        "id": new_id("msg"),
                        "client_id": ev.client_id,
                        "endpoint_id": ep.id,
                        "event_id": ev.id,
                        "event_type": ev.type,
                        "case_id": ev.case_id,
                        "body": body,
                        "status": "pending" if enabled else "skipped",
                        "attempts": 0,
                        "tries": 0,
                        "next_attempt_at": now if enabled else None,
                        "created_at": now,
                    }
                )
        if messages:
            await session.execute(insert(WebhookMessage), messages)
        await session.execute(delete(WebhookPending).where(WebhookPending.seq.in_([seq for seq, _ in rows])))
    return len(rows)
