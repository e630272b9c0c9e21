"""Inbound provider notifications: verify, cross-check, store in the inbox, record the payment, acknowledge.

One transaction per notification. The inbox's unique (provider, event_key) makes a repeated event a
no-op however many copies arrive at once, on however many instances; the acknowledgement of a duplicate
is still a success so the provider stops retrying.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain.money import Money
from payments.persistence.db import Database, utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import InboxMessage, Order, Payment, Refund
from payments.services.inserts import insert_ignoring_duplicates
from payments.services.recording import record_order_payment
from payments.services.refunds import reverse_refund
from providers.base import (
    Ack,
    ExpectedOrder,
    NotificationEvent,
    NotificationRejected,
    Provider,
    RefundStatus,
    RejectReason,
    TxnStatus,
)

security_log = logging.getLogger("payrecon.security")
log = logging.getLogger("payrecon.notify")

PaymentRecorded = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one notification, for the HTTP layer's metrics and the tests."""

    ack: Ack
    result: str  # recorded | duplicate | exception | state_only | rejected:<reason>
    payment_id: str | None = None


class NotificationService:
    def __init__(
        self,
        db: Database,
        providers: Mapping[str, Provider],
        on_payment: PaymentRecorded | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.providers = providers
        self.on_payment = on_payment
        self.clock = clock

    async def receive(self, provider_name: str, headers: Mapping[str, str], body: bytes) -> Outcome:
        provider = self.providers[provider_name]
        try:
            event = provider.parse_notification(headers, body, self.clock())
        except NotificationRejected as exc:
            return self._reject(provider, exc)
        async with self.db.transaction() as session:
            # Locked: two events for one order (a double payment, the query job) must not both see
            # it pending and each write their own transaction id over the other's.
            order = await session.scalar(
                select(Order)
                .where(Order.out_trade_no == event.out_trade_no, Order.provider == provider.name)
                .with_for_update()
            )
            if order is None:
                # Nothing of a notification for an order we never made is kept.
                rejected = NotificationRejected(
                    RejectReason.UNKNOWN_ORDER, f"out_trade_no {event.out_trade_no}"
                )
                outcome: Outcome | None = None
            else:
                rejected = None
                outcome = await self._apply(session, provider, order, event, body)
        if rejected is not None:
            return self._reject(provider, rejected)
        assert outcome is not None
        if outcome.result == "recorded" and outcome.payment_id and self.on_payment:
            self.on_payment(outcome.payment_id)
        return outcome

    def _reject(self, provider: Provider, exc: NotificationRejected) -> Outcome:
        # The detail names fields and ids, never personal data: parsers put only reasons in it.
        security_log.warning(
            "notification refused: %s",
            exc,
            extra={"event": "notification_refused", "provider": provider.name, "reason": exc.reason.value},
        )
        return Outcome(provider.ack_failure(exc.reason.value), f"rejected:{exc.reason.value}")

    async def _apply(
        self, session: AsyncSession, provider: Provider, order: Order, event: NotificationEvent, body: bytes
    ) -> Outcome:
        now = utcnow()
        integrity_problem: NotificationRejected | None = None
        if event.kind == "payment" and event.status is TxnStatus.SUCCESS:
            try:
                provider.check_integrity(
                    event, ExpectedOrder(order.out_trade_no, Money(order.amount_fen, order.currency))
                )
            except NotificationRejected as exc:
                integrity_problem = exc
        outcome_kind = self._classify(event, integrity_problem)
        inserted = await insert_ignoring_duplicates(
            session,
            InboxMessage,
            dict(
                id=new_id("inb"),
                provider=provider.name,
                event_key=event.event_key,
                out_trade_no=event.out_trade_no,
                kind=event.kind,
                status=event.status.value,
                amount_fen=event.amount.fen,
                body=body,
                fields=dict(event.fields),
                received_at=now,
                outcome=outcome_kind,
            ),
        )
        if not inserted:
            return Outcome(provider.ack_success(), "duplicate")
        if event.kind == "refund":
            await self._record_refund(session, provider, event, now)
            return Outcome(provider.ack_success(), "state_only")
        if event.status is not TxnStatus.SUCCESS:
            if order.status == "pending" and event.status in (TxnStatus.CLOSED, TxnStatus.FAILED):
                order.status = event.status.value
            return Outcome(provider.ack_success(), "state_only")
        payment_id = await self._record_payment(session, provider, order, event, integrity_problem)
        if payment_id is None:
            # A new event for money already recorded from another source (the order query, a
            # statement): nothing was recorded now, so say so, in the answer and in the inbox.
            await session.execute(
                update(InboxMessage)
                .where(InboxMessage.provider == provider.name, InboxMessage.event_key == event.event_key)
                .values(outcome="duplicate")
            )
            return Outcome(provider.ack_success(), "duplicate")
        return Outcome(provider.ack_success(), outcome_kind, payment_id)

    @staticmethod
    def _classify(event: NotificationEvent, problem: NotificationRejected | None) -> str:
        if event.kind == "refund" or event.status is not TxnStatus.SUCCESS:
            return "state_only"
        return "exception" if problem is not None else "recorded"

    async def _record_payment(
        self,
        session: AsyncSession,
        provider: Provider,
        order: Order,
        event: NotificationEvent,
        problem: NotificationRejected | None,
    ) -> str | None:
        return await record_order_payment(
            session,
            order=order,
            provider=provider.name,
            provider_txn_id=event.provider_txn_id,
            amount=event.amount,
            received_at=event.occurred_at,
            source="notification",
            problem=problem.reason.value if problem else None,
        )

    async def _record_refund(
        self, session: AsyncSession, provider: Provider, event: NotificationEvent, now: datetime
    ) -> None:
        refund = await session.scalar(
            select(Refund).where(Refund.provider == provider.name, Refund.refund_no == event.refund_no)
        )
        payment_id = await session.scalar(
            select(Payment.id)
            .where(Payment.provider == provider.name, Payment.out_trade_no == event.out_trade_no)
            .order_by(Payment.id)
            .limit(1)
        )
        status = event.status.value if isinstance(event.status, RefundStatus) else str(event.status)
        if refund is None:
            amount_fen = event.amount.fen
            if getattr(provider, "refund_amount_cumulative", False):
                # Only this refund's share is ours to record: the total less the refunds we know of.
                known = await session.scalar(
                    select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
                        Refund.provider == provider.name,
                        Refund.out_trade_no == event.out_trade_no,
                        Refund.status != "failed",
                    )
                )
                amount_fen -= int(known or 0)
            if amount_fen <= 0:
                log.warning(
                    "refund %s of %s adds nothing to what is known; not recorded",
                    event.refund_no,
                    event.out_trade_no,
                )
                return
            refund = Refund(
                id=new_id("rfd"),
                payment_id=payment_id,
                provider=provider.name,
                out_trade_no=event.out_trade_no,
                refund_no=event.refund_no,
                amount_fen=amount_fen,
                status=status,
                created_at=now,
                updated_at=now,
            )
            session.add(refund)
        else:
            refund.status = status
            refund.updated_at = now
        await reverse_refund(session, refund)
