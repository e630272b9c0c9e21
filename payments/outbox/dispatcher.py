"""The webhook dispatcher: fan out outbox events to endpoints, then claim, sign, send and record.

1. Fan-out: every outbox event has a `webhook_pending` row written in its own transaction. One
   dispatcher at a time (a PostgreSQL transaction-level advisory lock) turns those rows, in order, into
   one `webhook_messages` row per subscribed endpoint, with the body rendered once.
2. Claim: a message is due when its time has come and no earlier message of the same endpoint and
   case is still pending (per case, events arrive in order). Due rows are claimed with
   `FOR UPDATE SKIP LOCKED` and leased (their next attempt moved past the request timeout) in one
   short transaction, so several dispatchers never send the same attempt; SQLite has one process
   and one connection, which serialises the claims the same way.
3. Send: POST with the Standard Webhooks headers, no redirects, a 15 s timeout, the first 1000
   characters of the answer kept.
4. Record: one delivery row per attempt, the message delivered, failed, or due again per the schedule;
   the endpoint's failure flag set or cleared, and the endpoint disabled on 410 or after 5 days of
   failures.

No request waits for any of this: `wake()` (after a commit that wrote events) and the scheduler's
interval both start workers, which run until nothing is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import bindparam, delete, event, exists, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from payments.outbox.endpoints import PREVIOUS_SECRET_COLUMN, SECRET_COLUMN, skip_pending
from payments.outbox.events import render
from payments.outbox.schedule import FAILING_LIMIT, Outcome, classify, parse_retry_after, retry_delay
from payments.outbox.signing import webhook_headers
from payments.persistence.db import Database, utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import (
    OUTBOX_WRITTEN,
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
    WebhookPending,
)
from payments.security.pii import PiiCipher

log = logging.getLogger("payrecon.webhooks")

FANOUT_LOCK = int.from_bytes(hashlib.sha256(b"payrecon:webhooks:fanout").digest()[:8], "big", signed=True)
LEASE_MARGIN = timedelta(seconds=30)
RESPONSE_KEEP = 1000
USER_AGENT = "payrecon-webhooks/1"
M = WebhookMessage.__table__


@dataclass(frozen=True)
class Claimed:
    seq: int
    id: str
    endpoint_id: str
    client_id: str
    attempt: int
    tries: int
    url: str
    secrets: tuple[str, ...]
    body: bytes


@dataclass(frozen=True)
class Sent:
    claimed: Claimed
    at: datetime
    status_code: int | None
    latency_ms: int
    error: str
    response: str
    retry_after: str | None


class Dispatcher:
    def __init__(
        self,
        db: Database,
        pii: PiiCipher,
        *,
        transport: httpx.AsyncBaseTransport,
        timeout: float = 15.0,
        workers: int = 4,
        batch: int = 50,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        """`transport` is where requests go: the SSRF-guarded one in service, an in-process receiver
        in tests. `clock` decides what is due (tests move it); signatures always carry the real time."""
        self.db = db
        self.pii = pii
        self.timeout = timeout
        self.workers = workers
        self.batch = batch
        self.clock = clock
        self.rng = rng or random.Random()
        self.http = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": USER_AGENT, "content-type": "application/json"},
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self.attempts_made = 0
        self._fanout_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: Callable[[Session], None] | None = None

    # -- running -------------------------------------------------------------------------------------

    def wake(self) -> None:
        """Start a worker now (up to `workers`); safe from any thread while the loop runs."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._spawn, 1)

    def wake_on_commit(self) -> None:
        """From now on a commit on this database that wrote outbox events wakes the dispatcher."""
        self._loop = asyncio.get_running_loop()
        if self._listener is not None:
            return
        engine = self.db.engine.sync_engine

        def after_commit(session: Session) -> None:
            if session.info.get(OUTBOX_WRITTEN) and session.bind is engine:
                session.info[OUTBOX_WRITTEN] = False
                self.wake()

        event.listen(Session, "after_commit", after_commit)
        self._listener = after_commit

    async def drain(self) -> int:
        """Deliver everything due now; return when nothing is (retries wait for their time).

        The number of attempts made meanwhile (by this drain and by workers a wake started)."""
        self._loop = self._loop or asyncio.get_running_loop()
        before = self.attempts_made
        self._spawn(self.workers)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        return self.attempts_made - before

    async def aclose(self) -> None:
        if self._listener is not None:
            event.remove(Session, "after_commit", self._listener)
            self._listener = None
        self._loop = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.http.aclose()

    def _spawn(self, n: int) -> None:
        for _ in range(min(n, self.workers - len(self._tasks))):
            task = asyncio.get_running_loop().create_task(self._work())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _work(self) -> None:
        try:
            while True:
                fanned = await self.fan_out()
                claimed = await self.claim()
                if not claimed:
                    if fanned is None:  # another dispatcher is fanning out: there will be work
                        await asyncio.sleep(0.02)
                    if fanned != 0:
                        continue
                    return
                sent = await asyncio.gather(*(self.send(c) for c in claimed))
                await self.record(sent)
                self.attempts_made += len(sent)
        except Exception:  # the database went away, say: the next wake or interval starts again
            log.exception("webhook worker stopped")

    # -- 1. fan-out ----------------------------------------------------------------------------------

    async def fan_out(self, limit: int = 500) -> int | None:
        """Turn up to `limit` pending outbox events into messages: the number of events handled, None
        when another worker or dispatcher is fanning out now."""
        if self.db.is_sqlite and self._fanout_lock.locked():
            return None
        guard = self._fanout_lock if self.db.is_sqlite else contextlib.nullcontext()
        async with guard, self.db.transaction() as session:
            if not self.db.is_sqlite:
                if not await session.scalar(select(func.pg_try_advisory_xact_lock(FANOUT_LOCK))):
                    return None  # another dispatcher is fanning out
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
            clients = {ev.client_id for _, ev in rows}
            endpoints: dict[str, list[Any]] = defaultdict(list)
            for ep in await session.execute(
                select(
                    WebhookEndpoint.id,
                    WebhookEndpoint.client_id,
                    WebhookEndpoint.event_types,
                    WebhookEndpoint.status,
                )
                .where(WebhookEndpoint.client_id.in_(clients), WebhookEndpoint.status != "deleted")
                .order_by(WebhookEndpoint.id)
            ):
                endpoints[ep.client_id].append(ep)
            now = self.clock()
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
            await session.execute(
                delete(WebhookPending).where(WebhookPending.seq.in_([seq for seq, _ in rows]))
            )
        return len(rows)

    # -- 2. claim ------------------------------------------------------------------------------------

    async def claim(self) -> list[Claimed]:
        now = self.clock()
        earlier = aliased(WebhookMessage)
        blocked = exists().where(
            earlier.endpoint_id == WebhookMessage.endpoint_id,
            earlier.case_id == WebhookMessage.case_id,
            earlier.status == "pending",
            earlier.seq < WebhookMessage.seq,
        )
        enabled = exists().where(
            WebhookEndpoint.id == WebhookMessage.endpoint_id, WebhookEndpoint.status == "enabled"
        )
        async with self.db.transaction() as session:
            seqs = (
                await session.scalars(
                    select(WebhookMessage.seq)
                    .where(
                        WebhookMessage.status == "pending",
                        WebhookMessage.next_attempt_at <= now,
                        ~blocked,
                        enabled,
                    )
                    .order_by(WebhookMessage.next_attempt_at, WebhookMessage.seq)
                    .limit(self.batch)
                    .with_for_update(skip_locked=True, of=WebhookMessage)
                )
            ).all()
            if not seqs:
                return []
            await session.execute(
                update(WebhookMessage)
                .where(WebhookMessage.seq.in_(seqs))
                .values(
                    attempts=WebhookMessage.attempts + 1,
                    tries=WebhookMessage.tries + 1,
                    next_attempt_at=now + timedelta(seconds=self.timeout) + LEASE_MARGIN,
                    last_attempt_at=now,
                )
            )
            rows = (
                await session.execute(
                    select(
                        WebhookMessage.seq,
                        WebhookMessage.id,
                        WebhookMessage.endpoint_id,
                        WebhookMessage.client_id,
                        WebhookMessage.attempts,
                        WebhookMessage.tries,
                        WebhookMessage.body,
                        WebhookEndpoint.url,
                        WebhookEndpoint.secret_enc,
                        WebhookEndpoint.previous_secret_enc,
                        WebhookEndpoint.previous_secret_until,
                    )
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
                    .where(WebhookMessage.seq.in_(seqs))
                    .order_by(WebhookMessage.seq)
                )
            ).all()
        return [
            Claimed(
                seq=r.seq,
                id=r.id,
                endpoint_id=r.endpoint_id,
                client_id=r.client_id,
                attempt=r.attempts,
                tries=r.tries,
                url=r.url,
                secrets=self._secrets(
                    r.endpoint_id, r.secret_enc, r.previous_secret_enc, r.previous_secret_until, now
                ),
                body=r.body,
            )
            for r in rows
        ]

    def _secrets(
        self, endpoint_id: str, current: str, previous: str | None, until: datetime | None, now: datetime
    ) -> tuple[str, ...]:
        secrets = [self.pii.decrypt(current, column=SECRET_COLUMN, row_id=endpoint_id)]
        if previous is not None and until is not None and until > now:
            secrets.append(self.pii.decrypt(previous, column=PREVIOUS_SECRET_COLUMN, row_id=endpoint_id))
        return tuple(secrets)

    # -- 3. send -------------------------------------------------------------------------------------

    async def send(self, c: Claimed) -> Sent:
        headers = webhook_headers(c.secrets, c.id, int(time.time()), c.body)
        at, started = self.clock(), time.perf_counter()
        status_code, error, response, retry_after = None, "", "", None
        try:
            async with self.http.stream("POST", c.url, content=c.body, headers=headers) as answer:
                status_code = answer.status_code
                retry_after = answer.headers.get("retry-after")
                kept = bytearray()
                async for chunk in answer.aiter_bytes():
                    kept += chunk
                    if len(kept) >= RESPONSE_KEEP * 4:  # enough for 1000 characters of any UTF-8
                        break
                response = kept.decode("utf-8", errors="replace")[:RESPONSE_KEEP]
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        latency_ms = int((time.perf_counter() - started) * 1000)
        return Sent(c, at, status_code, latency_ms, error, response, retry_after)

    # -- 4. record -----------------------------------------------------------------------------------

    async def record(self, results: list[Sent]) -> None:
        now = self.clock()
        deliveries, updates = [], []
        succeeded: set[str] = set()
        failed: set[str] = set()
        gone: set[str] = set()
        for s in results:
            c, outcome = s.claimed, classify(s.status_code)
            state: dict[str, Any] = {"status": "failed", "next_attempt_at": None, "delivered_at": None}
            if outcome is Outcome.DELIVERED:
                state.update(status="delivered", delivered_at=now)
                succeeded.add(c.endpoint_id)
            else:
                failed.add(c.endpoint_id)
                if outcome is Outcome.GONE:
                    gone.add(c.endpoint_id)
                elif outcome is Outcome.RETRY:
                    honoured = parse_retry_after(s.retry_after, now) if s.status_code in (429, 503) else None
                    delay = retry_delay(c.tries, self.rng, honoured)
                    if delay is not None:
                        state.update(status="pending", next_attempt_at=now + delay)
                    else:
                        outcome = Outcome.FAILED
            if outcome is not Outcome.DELIVERED:
                log.info(
                    "webhook %s to endpoint %s, attempt %d: %s",
                    c.id,
                    c.endpoint_id,
                    c.attempt,
                    s.status_code or s.error.partition(":")[0],
                    extra={"event": "webhook.attempt_failed", "status": s.status_code},
                )
            deliveries.append(
                {
                    "id": new_id("dlv"),
                    "message_id": c.id,
                    "endpoint_id": c.endpoint_id,
                    "client_id": c.client_id,
                    "attempt": c.attempt,
                    "at": s.at,
                    "latency_ms": s.latency_ms,
                    "status_code": s.status_code,
                    "outcome": outcome.value,
                    "error": s.error,
                    "response_body": s.response,
                }
            )
            updates.append(
                {
                    "b_seq": c.seq,
                    "b_attempts": c.attempt,
                    "b_status": state["status"],
                    "b_next": state["next_attempt_at"],
                    "b_delivered": state["delivered_at"],
                    "b_code": s.status_code,
                }
            )
        async with self.db.transaction() as session:
            await session.execute(insert(WebhookDelivery), deliveries)
            # Guarded by the attempt number: if a lease ran out and another dispatcher took the message
            # over, its outcome wins and this one stays only in the delivery log.
            await session.execute(
                M.update()
                .where(M.c.seq == bindparam("b_seq"), M.c.attempts == bindparam("b_attempts"))
                .values(
                    status=bindparam("b_status"),
                    next_attempt_at=bindparam("b_next"),
                    delivered_at=bindparam("b_delivered"),
                    last_status_code=bindparam("b_code"),
                ),
                updates,
            )
            await self._endpoint_health(session, succeeded, failed - succeeded, gone, now)

    async def _endpoint_health(
        self, session: Any, succeeded: set[str], failed: set[str], gone: set[str], now: datetime
    ) -> None:
        """Sorted, so two dispatchers lock endpoints in the same order."""
        if succeeded:
            await session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id.in_(sorted(succeeded)), WebhookEndpoint.failing_since.is_not(None))
                .values(failing_since=None)
            )
        for endpoint_id in sorted(failed):
            await session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
                .values(failing_since=now)
            )
        for endpoint_id in sorted(failed | gone):
            reason = "gone" if endpoint_id in gone else "failing"
            query = update(WebhookEndpoint).where(
                WebhookEndpoint.id == endpoint_id, WebhookEndpoint.status == "enabled"
            )
            if reason == "failing":
                query = query.where(WebhookEndpoint.failing_since <= now - FAILING_LIMIT)
            done = await session.execute(
                query.values(status="disabled", disabled_reason=reason, disabled_at=now, updated_at=now)
            )
            if done.rowcount:
                await skip_pending(session, endpoint_id)
                log.warning(
                    "webhook endpoint %s disabled: %s",
                    endpoint_id,
                    reason,
                    extra={"event": "webhook.disabled"},
                )
