"""APScheduler 3 running the jobs: inside the web process (embedded default) or in `payrecon worker`."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from payments.services.container import Services
from reconciliation.jobs import JOBS, run_locked

log = logging.getLogger("payrecon.scheduler")

# Seconds between runs of each job.
INTERVALS = {"expire_links": 60, "query_pending_orders": 60}


def build_scheduler(services: Services) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    for name, job in JOBS.items():

        async def run(name: str = name, job=job) -> None:  # type: ignore[no-untyped-def]
            try:
                await run_locked(services.db, name, lambda: job(services))
            except Exception:  # a failed run is logged and retried at the next interval
                log.exception("job %s failed", name)

        # coalesce + max_instances=1: a slow run is never stacked behind itself.
        scheduler.add_job(run, "interval", seconds=INTERVALS[name], id=name, coalesce=True, max_instances=1)
    return scheduler
