"""The daily statement check: a rail's statement for a Beijing day against our payments and notifications.

Each line is stored in `statement_lines`, unique per provider transaction (and refund number), and is
checked only by the transaction that inserted it: running a day again, or a provider listing a line on
two days, changes nothing. Outcomes of a payment line:

- matched: our payment with this provider transaction id, same amount, and a notification in the inbox;
- matched_unnotified: our payment (learned by order query), same amount, but never notified;
- recorded: no payment, but our order: the payment is recorded from the statement (source "statement")
  and then applied to the order's case by the applier, like any referenced payment;
- amount_mismatch: our payment's amount differs: a `statement_amount_mismatch` exception;
- unknown_order: neither a payment nor an order of ours (another system on the same merchant account).

Refund lines are refund (we knew it; marked succeeded) or refund_recorded (we did not: the refund row is
written from the statement). The other direction: a payment notified or queried in day D whose
provider transaction appears on no statement line after D's check gets a `missing_from_statement`
exception, once; a line for it on a later statement resolves that exception. Each exception written
here also writes a `reconciliation.exception` outbox event for the payment's client.

The whole day is one transaction, so a crash leaves nothing half-checked; a dry run rolls it back.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import (
    InboxMessage,
    Order,
    Payment,
    PaymentException,
    Refund,
    StatementLineRow,
)
from payments.services.container import Services
from payments.services.inserts import insert_ignoring_duplicates
from payments.services.outbox import emit
from payments.services.recording import record_order_payment
from payments.services.refunds import reverse_refund
from providers.base import BEIJING, ProviderError, StatementLine

log = logging.getLogger("payrecon.statements")

# WeChat's answer for "no transactions that day, so no file": an empty statement, not a failure.
# (Alipay's isp.bill_not_exist and UnionPay's 98 mean "not published yet": the check fails and is retried.)
NO_STATEMENT_CODES = frozenset({"NO_STATEMENT_EXIST"})
MISSING = "missing_from_statement"
AMOUNT_MISMATCH = "statement_amount_mismatch"


def beijing_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), BEIJING)
    return start, start + timedelta(days=1)


def previous_beijing_day(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(BEIJING).date() - timedelta(days=1)


async def fetch_lines(services: Services, provider_name: str, day: date) -> list[StatementLine]:
    provider = services.rails.providers[provider_name]
    try:
        data = await provider.fetch_statement(day)
    except ProviderError as exc:
        if exc.code in NO_STATEMENT_CODES:
            return []
        raise
    return [line for line in provider.parse_statement(data) if line.provider == provider_name]


async def check_statement(
    services: Services, provider_name: str, day: date, *, dry_run: bool = False
) -> dict[str, Any]:
    """Fetch, parse, store and check `provider_name`'s statement for `day`; the day's report.

    Raises ProviderError (the statement could not be fetched) or StatementError (nor parsed).
    """
    lines = await fetch_lines(services, provider_name, day)
    check = _DayCheck(provider_name, day)
    async with services.db.sessions() as session:
        transaction = await session.begin()
        try:
            for line in lines:
                await check.line(session, line)
            await check.missing(session)
        except BaseException:
            await transaction.rollback()
            raise
        if dry_run:
            await transaction.rollback()
        else:
            await transaction.commit()
    applied = await services.applier.sweep() if check.recorded and not dry_run else 0
    return check.report(dry_run=dry_run, applied=applied)


class _DayCheck:
    def __init__(self, provider: str, day: date) -> None:
        self.provider = provider
        self.day = day
        self.now = utcnow()
        self.per_line: list[dict[str, Any]] = []
        self.new_outcomes: Counter[str] = Counter()
        self.recorded: list[str] = []
        self.exceptions: Counter[str] = Counter()
        self.already_checked = 0

    # -- one line ------------------------------------------------------------------------------------

    async def line(self, session: AsyncSession, line: StatementLine) -> None:
        row_id = new_id("stl")
        key = (
            StatementLineRow.provider == self.provider,
            StatementLineRow.provider_txn_id == line.provider_txn_id,
            StatementLineRow.kind == line.kind,
            StatementLineRow.refund_no == line.refund_no,
        )
        # The insert claims the line: of two runs (or a line listed twice) only one goes on to check it.
        inserted = await insert_ignoring_duplicates(
            session,
            StatementLineRow,
            dict(
                id=row_id,
                provider=self.provider,
                day=self.day,
                line_no=line.line_no,
                kind=line.kind,
                out_trade_no=line.out_trade_no,
                provider_txn_id=line.provider_txn_id,
                refund_no=line.refund_no,
                amount_fen=line.amount.fen,
                fee_fen=line.fee.fen,
                currency=line.amount.currency,
                occurred_at=line.occurred_at,
                outcome="checking",
                payment_id=None,
                client_id=None,
                created_at=self.now,
            ),
        )
        if inserted:
            if line.kind == "payment":
                outcome, payment_id, client_id = await self._payment_line(session, line)
            else:
                outcome, payment_id, client_id = await self._refund_line(session, line)
            await session.execute(
                update(StatementLineRow)
                .where(StatementLineRow.id == row_id)
                .values(outcome=outcome, payment_id=payment_id, client_id=client_id)
            )
            self.new_outcomes[outcome] += 1
        else:
            self.already_checked += 1
            outcome = await session.scalar(select(StatementLineRow.outcome).where(*key)) or "checking"
            payment_id = await session.scalar(select(StatementLineRow.payment_id).where(*key))
        self.per_line.append(
            {
                "line_no": line.line_no,
                "kind": line.kind,
                "out_trade_no": line.out_trade_no,
                "provider_txn_id": line.provider_txn_id,
                "refund_no": line.refund_no,
                "amount_fen": line.amount.fen,
                "fee_fen": line.fee.fen,
                "net_fen": line.amount.fen - line.fee.fen,
                "outcome": outcome,
                "payment_id": payment_id,
                "new": inserted,
            }
        )

    async def _payment_line(
        self, session: AsyncSession, line: StatementLine
    ) -> tuple[str, str | None, str | None]:
        payment = await session.scalar(
            select(Payment)
            .where(Payment.provider == self.provider, Payment.provider_txn_id == line.provider_txn_id)
            .with_for_update()
        )
        if payment is None:
            return await self._record_from_statement(session, line)
        await self._resolve_missing(session, payment.id)
        if (payment.amount_fen, payment.currency) != (line.amount.fen, line.amount.currency):
            self._exception(
                session,
                AMOUNT_MISMATCH,
                payment,
                {
                    "day": self.day.isoformat(),
                    "line_no": line.line_no,
                    "statement_amount_fen": line.amount.fen,
                    "statement_currency": line.amount.currency,
                    "payment_amount_fen": payment.amount_fen,
                    "payment_currency": payment.currency,
                },
            )
            return "amount_mismatch", payment.id, payment.client_id
        notified = await session.scalar(
            select(
                exists().where(
                    InboxMessage.provider == self.provider,
                    InboxMessage.out_trade_no == line.out_trade_no,
                    InboxMessage.kind == "payment",
                    InboxMessage.status == "success",
                )
            )
        )
        return ("matched" if notified else "matched_unnotified"), payment.id, payment.client_id

    async def _record_from_statement(
        self, session: AsyncSession, line: StatementLine
    ) -> tuple[str, str | None, str | None]:
        order = await session.scalar(
            select(Order)
            .where(Order.provider == self.provider, Order.out_trade_no == line.out_trade_no)
            .with_for_update()
        )
        if order is None:
            return "unknown_order", None, None
        payment_id = await record_order_payment(
            session,
            order=order,
            provider=self.provider,
            provider_txn_id=line.provider_txn_id,
            amount=line.amount,
            received_at=line.occurred_at,
            source="statement",
        )
        if payment_id is None:  # recorded meanwhile by a notification or query (it waited on our lock)
            payment_id = await session.scalar(
                select(Payment.id).where(
                    Payment.provider == self.provider, Payment.provider_txn_id == line.provider_txn_id
                )
            )
            return "matched_unnotified", payment_id, order.client_id
        self.recorded.append(payment_id)
        log.info("payment %s recorded from the %s statement of %s", payment_id, self.provider, self.day)
        return "recorded", payment_id, order.client_id

    async def _refund_line(
        self, session: AsyncSession, line: StatementLine
    ) -> tuple[str, str | None, str | None]:
        payment = await session.scalar(
            select(Payment)
            .where(Payment.provider == self.provider, Payment.out_trade_no == line.out_trade_no)
            .order_by(Payment.id)
            .limit(1)
        )
        payment_id = payment.id if payment is not None else None
        client_id = payment.client_id if payment is not None else None
        refund = await session.scalar(
            select(Refund)
            .where(Refund.provider == self.provider, Refund.refund_no == line.refund_no)
            .with_for_update()
        )
        if refund is None:
            # A refund we never asked for or never heard of: the statement is the record of it.
            refund = Refund(
                id=new_id("rfd"),
                payment_id=payment_id,
                provider=self.provider,
                out_trade_no=line.out_trade_no,
                refund_no=line.refund_no,
                amount_fen=-line.amount.fen,
                status="success",
                created_at=self.now,
                updated_at=self.now,
            )
            session.add(refund)
            await reverse_refund(session, refund)
            return "refund_recorded", payment_id, client_id
        if refund.status != "success":
            refund.status = "success"
            refund.updated_at = self.now
        await reverse_refund(session, refund)
        return "refund", payment_id or refund.payment_id, client_id

    # -- the other direction: our payments the statement does not list ---------------------------------

    async def missing(self, session: AsyncSession) -> None:
        start, end = beijing_day_bounds(self.day)
        listed = exists().where(
            StatementLineRow.provider == Payment.provider,
            StatementLineRow.provider_txn_id == Payment.provider_txn_id,
            StatementLineRow.kind == "payment",
        )
        flagged = exists().where(
            and_(PaymentException.payment_id == Payment.id, PaymentException.kind == MISSING)
        )
        rows = (
            await session.scalars(
                select(Payment)
                .where(
                    Payment.provider == self.provider,
                    Payment.source.in_(("notification", "query")),
                    Payment.received_at >= start,
                    Payment.received_at < end,
                    ~listed,
                    ~flagged,
                )
                .order_by(Payment.id)
            )
        ).all()
        for payment in rows:
            self._exception(
                session,
                MISSING,
                payment,
                {"day": self.day.isoformat(), "provider_txn_id": payment.provider_txn_id},
            )

    # -- helpers --------------------------------------------------------------------------------------

    def _exception(self, session: AsyncSession, kind: str, payment: Payment, details: dict[str, Any]) -> None:
        """An exception for finance, and the reconciliation.exception event that tells the case system."""
        exception_id = new_id("exc")
        session.add(
            PaymentException(
                id=exception_id,
                client_id=payment.client_id,
                kind=kind,
                provider=self.provider,
                out_trade_no=payment.out_trade_no,
                payment_id=payment.id,
                details=details,
                created_at=self.now,
                resolved_at=None,
            )
        )
        emit(
            session,
            payment.client_id,
            "reconciliation.exception",
            case_id=payment.case_id,
            payload={
                "exception_id": exception_id,
                "kind": kind,
                "provider": self.provider,
                "payment_id": payment.id,
                "out_trade_no": payment.out_trade_no,
                "amount_fen": payment.amount_fen,
                "created_at": self.now.isoformat(),
            },
        )
        self.exceptions[kind] += 1
        log.warning("statement check %s %s: %s for payment %s", self.provider, self.day, kind, payment.id)

    async def _resolve_missing(self, session: AsyncSession, payment_id: str) -> None:
        """A payment an earlier day's check found missing is on this statement after all."""
        await session.execute(
            update(PaymentException)
            .where(
                PaymentException.payment_id == payment_id,
                PaymentException.kind == MISSING,
                PaymentException.resolved_at.is_(None),
            )
            .values(resolved_at=self.now)
        )

    def report(self, *, dry_run: bool, applied: int) -> dict[str, Any]:
        payments = [ln for ln in self.per_line if ln["kind"] == "payment"]
        refunds = [ln for ln in self.per_line if ln["kind"] == "refund"]
        fees = sum(ln["fee_fen"] for ln in self.per_line)
        gross = sum(ln["amount_fen"] for ln in self.per_line)
        return {
            "provider": self.provider,
            "day": self.day.isoformat(),
            "dry_run": dry_run,
            "lines": len(self.per_line),
            "new_lines": len(self.per_line) - self.already_checked,
            "already_checked": self.already_checked,
            "outcomes": dict(Counter(ln["outcome"] for ln in self.per_line)),
            "new_outcomes": dict(self.new_outcomes),
            "exceptions": dict(self.exceptions),
            "recorded_payments": list(self.recorded),
            "applied": applied,
            "payments_fen": sum(ln["amount_fen"] for ln in payments),
            "refunds_fen": sum(ln["amount_fen"] for ln in refunds),
            "fees_fen": fees,
            "net_fen": gross - fees,
            "per_line": self.per_line,
        }
