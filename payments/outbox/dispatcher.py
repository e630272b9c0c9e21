"""The webhook dispatcher: fan out outbox events to endpoints, then claim, sign, send and record.

1. Fan-out (fanout.py): every outbox event has a `webhook_pending` row written in its own
   transaction; one dispatcher at a time turns those rows, in order, into one `webhook_messages` row
   per subscribed endpoint, with the body rendered once.
2. Claim: a message is due when its time has come and no earlier message of the same endpoint and
   case is still pending (per case, events arrive in order). Due rows are claimed with
   `FOR UPDATE SKIP LOCKED` and leased (their next attempt moved past the request timeout) in one
   short transaction, so several dispatchers never send the same attempt; SQLite has one process
   and one connection, which serialises the claims the same way.
3. Send: POST with the Standard Webhooks headers, no redirects, a 15 s timeout, the first 1000
   characters of the answer kept.
4. Record: one delivery row per attempt, the message delivered, failed, or due again per the schedule;
   the endpoint's failure flag set or cleared, and the endpoint disabled on 410 or after 5 days of
   failures (health.py).

No request waits for any of this: `wake()` (after a commit that wrote events, wakeups.py) and the
scheduler's interval (`kick()`) start workers, which run until nothing is due.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.orm import aliased

from payments.outbox.endpoints import PREVIOUS_SECRET_COLUMN, SECRET_COLUMN
from payments.outbox.fanout import fan_out
from payments.outbox.health import record_endpoint_health
from payments.outbox.schedule import Outcome, classify, parse_retry_after, retry_delay
from payments.outbox.signing import webhook_headers
from payments.outbox.wakeups import CommitWakeups
from payments.persistence.db import Database, utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import (
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from payments.security.pii import PiiCipher

log = logging.getLogger("payrecon.webhooks")

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
        self._woken = False
        self.attempts_made = 0
        self._fanout_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeups: CommitWakeups | None = None

    # -- running -------------------------------------------------------------------------------------

    def wake(self) -> None:
        """Something may be due: a running worker looks once more before it stops, or one starts.
        Safe from any thread while the loop runs; wakes that come together cost one look."""
        if self._loop is not None and not self._loop.is_closed():
            self._woken = True
            self._loop.call_soon_threadsafe(self._start_one)

    def wake_on_commit(self) -> None:
        """From now on a commit that wrote outbox events wakes the dispatcher (see wakeups.py)."""
        self._loop = asyncio.get_running_loop()
        if self._wakeups is None:
            self._wakeups = CommitWakeups(self.db, self.wake)
            self._wakeups.start()

    def kick(self) -> None:
        """Make sure a worker runs, and return at once: workers run until nothing is due and start
        helpers (up to `workers`) while they find full batches. The scheduler's interval job, so a
        long backlog never keeps the job itself running."""
        self._loop = self._loop or asyncio.get_running_loop()
        self._start_one()

    async def drain(self) -> int:
        """Deliver everything due now with all `workers`; return when nothing is (retries wait for
        their time). The number of attempts made meanwhile, by these workers and any a wake started."""
        self._loop = self._loop or asyncio.get_running_loop()
        before = self.attempts_made
        self._spawn(self.workers)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        return self.attempts_made - before

    async def aclose(self) -> None:
        if self._wakeups is not None:
            await self._wakeups.aclose()
            self._wakeups = None
        self._loop = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.http.aclose()

    def _start_one(self) -> None:
        if not self._tasks:
            self._spawn(1)

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
                    if fanned != 0 or self._woken:
                        self._woken = False
                        continue
                    return
                if len(claimed) == self.batch:  # a backlog: more hands
                    self._spawn(1)
                sent = await asyncio.gather(*(self.send(c) for c in claimed))
                await self.record(sent)
                self.attempts_made += len(sent)
        except Exception:  # the database went away, say: the next wake or interval starts again
            log.exception("webhook worker stopped")

    # -- 1. fan-out ----------------------------------------------------------------------------------

    async def fan_out(self, limit: int = 500) -> int | None:
        """Turn up to `limit` pending outbox events into messages: the number of events handled, None
        when another worker or dispatcher is fanning out now."""
        if self.db.is_sqlite:  # one process: an in-process lock is the whole story
            if self._fanout_lock.locked():
                return None
            async with self._fanout_lock:
                return await fan_out(self.db, self.clock(), limit)
        return await fan_out(self.db, self.clock(), limit)

    # -- 2. claim ------------------------------------------------------------------------------------

    async def claim(self) -> list[Claimed]:
        """Lease up to `batch` due messages: one UPDATE over a `FOR UPDATE SKIP LOCKED` sub-select."""
        now = self.clock()
        due, earlier = aliased(WebhookMessage), aliased(WebhookMessage)
        blocked = exists().where(
            earlier.endpoint_id == due.endpoint_id,
            earlier.case_id == due.case_id,
            earlier.status == "pending",
            earlier.seq < due.seq,
        )
        enabled = exists().where(WebhookEndpoint.id == due.endpoint_id, WebhookEndpoint.status == "enabled")
        chosen = (
            select(due.seq)
            .where(due.status == "pending", due.next_attempt_at <= now, ~blocked, enabled)
            .order_by(due.next_attempt_at, due.seq)
            .limit(self.batch)
            .with_for_update(skip_locked=True, of=due)
        )
        async with self.db.transaction() as session:
            messages = (
                await session.execute(
                    update(WebhookMessage)
                    .where(WebhookMessage.seq.in_(chosen.scalar_subquery()))
                    .values(
                        attempts=WebhookMessage.attempts + 1,
                        tries=WebhookMessage.tries + 1,
                        next_attempt_at=now + timedelta(seconds=self.timeout) + LEASE_MARGIN,
                        last_attempt_at=now,
                    )
                    .returning(
                        WebhookMessage.seq,
                        WebhookMessage.id,
                        WebhookMessage.endpoint_id,
                        WebhookMessage.client_id,
                        WebhookMessage.attempts,
                        WebhookMessage.tries,
                        WebhookMessage.body,
                    )
                    .execution_options(synchronize_session=False)
                )
            ).all()
            if not messages:
                return []
            endpoints = {
                e.id: e
                for e in await session.execute(
                    select(
                        WebhookEndpoint.id,
                        WebhookEndpoint.url,
                        WebhookEndpoint.secret_enc,
                        WebhookEndpoint.previous_secret_enc,
                        WebhookEndpoint.previous_secret_until,
                    ).where(WebhookEndpoint.id.in_({m.endpoint_id for m in messages}))
                )
            }
        secrets = {e.id: self._secrets(e, now) for e in endpoints.values()}
        return [
            Claimed(
                seq=m.seq,
                id=m.id,
                endpoint_id=m.endpoint_id,
                client_id=m.client_id,
                attempt=m.attempts,
                tries=m.tries,
                url=endpoints[m.endpoint_id].url,
                secrets=secrets[m.endpoint_id],
                body=m.body,
            )
            for m in sorted(messages, key=lambda m: m.seq)
        ]

    def _secrets(self, endpoint: Any, now: datetime) -> tuple[str, ...]:
        """The current secret, and the previous one while its overlap lasts."""
        secrets = [self.pii.decrypt(endpoint.secret_enc, column=SECRET_COLUMN, row_id=endpoint.id)]
        until = endpoint.previous_secret_until
        if endpoint.previous_secret_enc is not None and until is not None and until > now:
            secrets.append(
                self.pii.decrypt(
                    endpoint.previous_secret_enc, column=PREVIOUS_SECRET_COLUMN, row_id=endpoint.id
                )
            )
        return tuple(secrets)

    # -- 3. send -------------------------------------------------------------------------------------

    async def send(self, c: Claimed) -> Sent:
        at, started = self.clock(), time.perf_counter()
        try:
            headers = webhook_headers(c.secrets, c.id, int(time.time()), c.body)
        except (ValueError, binascii.Error):
            # A secret that cannot sign (a row written by hand, say) fails this message's attempt,
            # never the worker that carries every other endpoint's messages.
            log.error("webhook message %s: the endpoint's secret cannot sign; not sent", c.id)
            return Sent(c, at, None, 0, "cannot sign: the endpoint's secret is malformed", "", None)
        status_code, error, response, retry_after = None, "", "", None
        try:
            # One deadline for the whole exchange, however slowly the receiver drips its answer.
            async with asyncio.timeout(self.timeout):
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
            status_code, error = None, f"{type(exc).__name__}: {exc}"[:300]
        except TimeoutError:
            status_code, error = None, f"Timeout: no complete answer within {self.timeout:g} s"
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
            await record_endpoint_health(session, succeeded, failed - succeeded, gone, now)
