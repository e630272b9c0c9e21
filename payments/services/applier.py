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
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain.errors import DomainError
from payments.persistence.db import Database
from payments.persistence.tables import Case, Client, Debt, Link, Order, Payment
from payments.services.application import apply_payment
from payments.services.review_queue import open_review_item
from reconciliation.decision import Reason

log = logging.getLogger("payrecon.applier")
BATCH = 500


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
        """A batch in one go (rows locked up front, one flush); if any payment in it cannot be applied
        as things stand, the batch is rolled back and done again one payment at a time."""
        try:
            return await self._apply_batch_at_once()
        except DomainError:
            return await self._apply_batch_one_by_one()

    async def _apply_batch_at_once(self) -> int:
        async with self.db.transaction() as session:
            query = (
                select(Payment, Order.case_id, Order.link_id)
                .join(Order, Order.id == Payment.order_id)
                .where(Payment.status == "unmatched", Order.case_id.is_not(None))
                .order_by(Payment.id)
                .limit(BATCH)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(of=Payment, skip_locked=True)
            rows = (await session.execute(query)).all()
            if not rows:
                return 0
            # Cases, then debts, then links, each in id order: the order every writer locks in.
            case_ids = sorted({case_id for _, case_id, _ in rows})
            cases = {
                c.id: c
                for c in await session.scalars(
                    select(Case).where(Case.id.in_(case_ids)).order_by(Case.id).with_for_update()
                )
            }
            debts: dict[str, list[Debt]] = defaultdict(list)
            for debt in await session.scalars(
                select(Debt)
                .where(Debt.case_id.in_(case_ids))
                .order_by(Debt.case_id, Debt.due_date, Debt.debt_ref)
                .with_for_update()
            ):
                debts[debt.case_id].append(debt)
            link_ids = sorted({link_id for _, _, link_id in rows if link_id})
            links = {
                link.id: link
                for link in await session.scalars(
                    select(Link).where(Link.id.in_(link_ids)).order_by(Link.id).with_for_update()
                )
            }
            clients = {
                c.id: c
                for c in await session.scalars(
                    select(Client).where(Client.id.in_({c.client_id for c in cases.values()}))
                )
            }
            with session.no_autoflush:
                for payment, case_id, link_id in rows:
                    case = cases[case_id]
                    await apply_payment(
                        session,
                        payment,
                        case_id,
                        link_id,
                        locked=(case, clients[case.client_id], debts[case_id]),
                        locked_link=links.get(link_id) if link_id else None,
                    )
        return len(rows)

    async def _apply_batch_one_by_one(self) -> int:
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
                payment_id = payment.id
                try:
                    async with session.begin_nested():
                        await apply_payment(session, payment, case_id, link_id)
                except DomainError as exc:
                    # The case cannot take this money as things stand (say it was cancelled): hold it
                    # for finance rather than retrying it forever. The rolled-back savepoint expired
                    # the row, so it is read again before it is changed.
                    await _hold_for_review(session, payment_id, case_id)
                    log.warning("payment %s held for review: %s", payment_id, exc.detail)
        return len(rows)


async def _hold_for_review(session: AsyncSession, payment_id: str, case_id: str) -> None:
    """A review item naming the link's case, so finance sees it in the queue, and `payment.unmatched`."""
    payment = await session.get_one(Payment, payment_id, populate_existing=True)
    candidate = {"case_ids": [case_id], "debtor_id": "", "score": 0, "criteria": [], "active": False}
    open_review_item(session, payment, Reason.CASE_REFUSED.value, [candidate], case_id=case_id)
