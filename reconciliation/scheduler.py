"""APScheduler 3 running the jobs: inside the web process (embedded default) or in `payrecon worker`."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from payments.services.container import Services
from reconciliation.jobs import BACKGROUND, JOBS, run_locked

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
    intervals = {**INTERVALS, "dispatch_webhooks": services.settings.webhooks.dispatch_interval}
    # Besides its interval, a commit that writes outbox events wakes the webhook dispatcher at once.
    services.webhook_dispatcher.wake_on_commit()
    # The dispatcher runs every second: APScheduler's line per run would drown the log.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
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
    return scheduler
