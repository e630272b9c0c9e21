"""Recording money that a provider says it received for one of our orders.

Shared by the notification path, the pending-order query and (later) statement imports, so every
source writes the same rows and the unique (provider, provider_txn_id) keeps a payment single.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain.money import Money
from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Order, Payment, PaymentException
from payments.services import audit
from payments.services.inserts import insert_ignoring_duplicates
from payments.services.outbox import emit

log = logging.getLogger("payrecon.payments")


async def record_order_payment(
    session: AsyncSession,
    *,
    order: Order,
    provider: str,
    provider_txn_id: str,
    amount: Money,
    received_at: datetime | None,
    source: str,
    problem: str | None = None,
) -> str | None:
    """Insert the payment (None if this provider transaction is already recorded) and mark the order paid.

    `problem` (amount_mismatch, currency_mismatch) holds the money for finance instead of letting the
    reconciler apply it, and opens an exception.
    """
    if problem is None and (amount.fen != order.amount_fen or amount.currency != order.currency):
        problem = "amount_mismatch" if amount.currency == order.currency else "currency_mismatch"
    now = utcnow()
    when = received_at or now
    payment_id = new_id("pay")
    status = "exception" if problem else "unmatched"
    inserted = await insert_ignoring_duplicates(
        session,
        Payment,
        dict(
            id=payment_id,
            client_id=order.client_id,
            provider=provider,
            provider_txn_id=provider_txn_id,
            out_trade_no=order.out_trade_no,
            order_id=order.id,
            amount_fen=amount.fen,
            currency=amount.currency,
            source=source,
            status=status,
            unapplied_fen=amount.fen,
            received_at=when,
            created_at=now,
        ),
    )
    if order.status != "paid":
        order.status = "paid"
        order.paid_at = when
        order.provider_txn_id = provider_txn_id
    if not inserted:
        return None
    if problem:
        session.add(
            PaymentException(
                id=new_id("exc"),
                client_id=order.client_id,
                kind=problem,
                provider=provider,
                out_trade_no=order.out_trade_no,
                payment_id=payment_id,
                details={
                    "order_amount_fen": order.amount_fen,
                    "received_amount_fen": amount.fen,
                    "order_currency": order.currency,
                    "received_currency": amount.currency,
                },
                created_at=now,
                resolved_at=None,
            )
        )
        log.warning("payment %s does not match order %s: %s", payment_id, order.id, problem)
    audit.record(
        session,
        actor=f"provider:{provider}",
        action="payment.received",
        entity_type="payment",
        entity_id=payment_id,
        client_id=order.client_id,
        after={
            "amount_fen": amount.fen,
            "order_id": order.id,
            "status": status,
            "source": source,
            "provider_txn_id": provider_txn_id,
        },
    )
    emit(
        session,
        order.client_id,
        "payment.received",
        case_id=order.case_id,
        payload={
            "payment_id": payment_id,
            "order_id": order.id,
            "case_id": order.case_id,
            "provider": provider,
            "amount_fen": amount.fen,
            "currency": amount.currency,
            "source": source,
            "status": status,
            "received_at": when.isoformat(),
        },
    )
    # Applying it to the order's case is the applier's job, after this transaction commits.
    return payment_id
