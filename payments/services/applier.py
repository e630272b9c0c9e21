"""Applies payments that carry our reference (an order made from a case's link) to that case.

Recording money and applying it are separate steps, as the design's flows are: a notification's
transaction only records (inbox, payment, event) so the provider gets its answer quickly, and then
wakes this applier, which applies whatever is waiting in batches. A sweep on the scheduler catches
anything a crash left between the two, so every referenced payment is applied exactly once: the
payment row is locked and its status checked inside the applying transaction.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from payments.domain.errors import DomainError
from payments.persistence.db import Database
from payments.persistence.tables import Order, Payment
from payments.services.application import apply_payment

log = logging.getLogger("payrecon.applier")
BATCH = 100


class PaymentApplier:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def wake(self, payment_id: str | None = None) -> None:
        """Ask for a sweep soon; wakes that arrive while one runs fold into one more sweep."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self.sweep()
            except Exception:  # the scheduled sweep retries; a failure here must not kill the loop
                log.exception("applying referenced payments failed")
            if not self._again:
                return

    async def drain(self) -> None:
        """Wait until no sweep is running (tests; shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def sweep(self) -> int:
        """Apply every waiting referenced payment; returns how many were applied."""
        total = 0
        while applied := await self._apply_batch():
            total += applied
        return total

    async def _apply_batch(self) -> int:
        async with self.db.transaction() as session:
            query = (
                select(Payment, Order.case_id, Order.link_id)
                .join(Order, Order.id == Payment.order_id)
                .where(Payment.status == "unmatched", Order.case_id.is_not(None))
                .order_by(Payment.id)
                .limit(BATCH)
            )
            if not self.db.is_sqlite:
                # Another instance's sweep takes other rows; nobody applies a payment twice.
                query = query.with_for_update(of=Payment, skip_locked=True)
            rows = (await session.execute(query)).all()
            for payment, case_id, link_id in rows:
                try:
                    async with session.begin_nested():
                        await apply_payment(session, payment, case_id, link_id)
                except DomainError as exc:
                    # The case cannot take this money as things stand (say it was cancelled): hold it
                    # for finance rather than retrying it forever.
                    payment.status = "review"
                    log.warning("payment %s held for review: %s", payment.id, exc.detail)
        return len(rows)
