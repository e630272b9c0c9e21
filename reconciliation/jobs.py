"""Scheduled jobs. Each is idempotent and safe to kill at any point: it works in small transactions and
picks its work from the database state, so running it again finishes what a crash left.

On PostgreSQL each run holds an advisory lock named after the job, so two workers never run the same
job at once; SQLite has one process, which needs no lock.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text

from payments.persistence.db import Database
from payments.services.container import Services
from payments.services.pending_orders import settle_expired_orders
from providers.base import ProviderError, StatementError
from reconciliation.days import close_day
from reconciliation.ledger import check_ledger
from reconciliation.matching import match_unreferenced
from reconciliation.statements import check_statement, previous_beijing_day

log = logging.getLogger("payrecon.jobs")


def _lock_key(name: str) -> int:
    # A stable signed 64-bit key per job name (Python's hash() changes between processes).
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@asynccontextmanager
async def job_lock(db: Database, name: str) -> AsyncIterator[bool]:
    """Yields True when this process may run the job now; False when another holds it."""
    if db.is_sqlite:
        yield True
        return
    async with db.engine.connect() as conn:
        got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(name)}))
        try:
            yield got
        finally:
            if got:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(name)})
            await conn.commit()


async def run_locked(db: Database, name: str, job: Callable[[], Awaitable[object]]) -> object | None:
    async with job_lock(db, name) as mine:
        if not mine:
            log.info("job %s is running elsewhere; skipped", name)
            return None
        return await job()


async def expire_links(services: Services, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    total = 0
    while n := await services.links.expire_links(now):
        total += n
    return total


async def query_pending_orders(services: Services, now: datetime | None = None) -> int:
    report = await settle_expired_orders(services.db, services.rails.providers, now or datetime.now(UTC))
    if report.errors:
        log.warning("pending orders: %d could not be queried", len(report.errors))
    if report.paid:
        await services.applier.sweep()
    return report.checked


async def apply_referenced_payments(services: Services) -> int:
    """The safety net behind the applier's wake-ups: anything recorded but not yet applied."""
    return await services.applier.sweep()


async def dispatch_webhooks(services: Services) -> int:
    """Deliver the webhooks due now and wait until nothing is due; the number of attempts made."""
    return await services.webhook_dispatcher.drain()


async def match_payments(services: Services) -> int:
    """The rules engine over payments without our reference (bank transfers): apply or send to review."""
    report = await match_unreferenced(services)
    return report.payments


async def check_ledger_job(services: Services) -> int:
    """The ledger invariant over every payment, debt and case; the number of violations found."""
    report = await check_ledger(services)
    return len(report.violations)


async def check_statements(
    services: Services,
    day: date | None = None,
    *,
    dry_run: bool = False,
    rails: Iterable[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every rail's statement for `day` (default: yesterday, Beijing time) against our records.

    Runs every few hours (INTERVALS) though a day needs checking once: each rail publishes its file at
    its own hour the next morning, a run before that fails for that rail and the next run retries it,
    and a run after a complete one changes nothing (lines are checked once). A rail that fails does
    not stop the others; its report is {"error": ...}. Reports are the day's counts and sums, without
    the lines.
    """
    day = day or previous_beijing_day()
    reports: dict[str, dict[str, Any]] = {}
    for name in services.rails.providers if rails is None else rails:
        try:
            report = await check_statement(services, name, day, dry_run=dry_run)
            reports[name] = {k: v for k, v in report.items() if k != "per_line"}  # counts and sums only
            if not dry_run:
                await match_unreferenced(services)
                reports[name]["closed"] = await close_day(services, name, day)
        except (ProviderError, StatementError) as exc:
            log.warning("statement of %s for %s not checked: %s", name, day, exc)
            reports[name] = {"provider": name, "day": day.isoformat(), "error": str(exc)}
    return reports


JOBS: dict[str, Callable[[Services], Awaitable[object]]] = {
    "expire_links": expire_links,
    "query_pending_orders": query_pending_orders,
    "apply_referenced_payments": apply_referenced_payments,
    "dispatch_webhooks": dispatch_webhooks,
    "check_statements": check_statements,
    "match_payments": match_payments,
    "check_ledger": check_ledger_job,
}
# On the scheduler, these only start background workers (which claim rows with FOR UPDATE SKIP LOCKED,
# so every process runs them at once, unlocked) and return: a backlog never holds the interval job.
BACKGROUND: dict[str, Callable[[Services], None]] = {
    "dispatch_webhooks": lambda services: services.webhook_dispatcher.kick(),
}
