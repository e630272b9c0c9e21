"""APScheduler 3 running the jobs: inside the web process (embedded default) or in `payrecon worker`."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from payments.services.container import Services
from providers.base import BEIJING
from reconciliation.jobs import BACKGROUND, JOBS, check_statements, run_locked

log = logging.getLogger("payrecon.scheduler")

# Seconds between runs of each job (dispatch_webhooks: the webhooks.dispatch_interval setting).
# check_statements checks yesterday's statements; every 6 hours rather than daily so that a restart or
# a rail that has not yet published its file (next morning, Beijing time) delays the check by hours,
# never by days; once a day is checked, further runs change nothing.
INTERVALS = {
    "expire_links": 60,
    "query_pending_orders": 60,
    "apply_referenced_payments": 60,
    "check_statements": 6 * 3600,
}


def build_scheduler(services: Services) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    recon = services.settings.recon
    intervals = {
        **INTERVALS,
        "dispatch_webhooks": services.settings.webhooks.dispatch_interval,
        "match_payments": recon.match_interval,
        "check_ledger": recon.ledger_interval,
    }
    # Besides its interval, a commit that writes outbox events wakes the webhook dispatcher at once.
    services.webhook_dispatcher.wake_on_commit()
    # The dispatcher runs every second: APScheduler's line per run would drown the log.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    # And a line per job added at start-up says nothing an operator needs.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
    for name, job in JOBS.items():

        async def run(name: str = name, job=job) -> None:  # type: ignore[no-untyped-def]
            try:
                if name in BACKGROUND:
                    BACKGROUND[name](services)
                else:
                    await run_locked(services.db, name, lambda: job(services))
            except Exception:  # a failed run is logged and retried at the next interval
                log.exception("job %s failed", name)

        # coalesce + max_instances=1: a slow run is never stacked behind itself.
        scheduler.add_job(run, "interval", seconds=intervals[name], id=name, coalesce=True, max_instances=1)
    for rail in services.rails.providers:
        when = recon.statement_time(rail)
        if when is None:
            continue
        scheduler.add_job(
            _statement_job(services, rail),
            CronTrigger(hour=when[0], minute=when[1], timezone=BEIJING),
            id=f"check_statements:{rail}",
            coalesce=True,
            max_instances=1,
        )
    return scheduler


def _statement_job(services: Services, rail: str):  # type: ignore[no-untyped-def]
    """Yesterday's statement of one rail at its configured hour (the six-hourly run catches up)."""

    async def run() -> None:
        try:
            await run_locked(
                services.db, f"check_statements:{rail}", lambda: check_statements(services, rails=[rail])
            )
        except Exception:
            log.exception("statement check of %s failed", rail)

    return run
