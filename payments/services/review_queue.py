"""Putting a payment in front of finance: a review item with its candidates, and `payment.unmatched`.

Both the rules engine (a payment it would not apply on its own) and the applier (a referenced payment
its case refuses) send payments here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Payment
from payments.persistence.tables_recon import ReviewItem
from payments.services.outbox import emit


def open_review_item(
    session: AsyncSession,
    payment: Payment,
    reason: str,
    candidates: list[dict[str, Any]],
    *,
    case_id: str | None = None,
) -> ReviewItem:
    """`candidates`: case ids, scores and criteria only, never personal data. The caller holds the
    transaction and has locked the payment row."""
    now = utcnow()
    item = ReviewItem(
        id=new_id("rvw"),
        client_id=payment.client_id,
        payment_id=payment.id,
        amount_fen=payment.amount_fen,
        provider=payment.provider,
        received_at=payment.received_at,
        reason=reason,
        candidates=candidates,
        status="open",
        resolution=None,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    payment.status = "review"
    emit(
        session,
        payment.client_id,
        "payment.unmatched",
        case_id=case_id,
        payload={
            "payment_id": payment.id,
            "provider": payment.provider,
            "amount_fen": payment.amount_fen,
            "currency": payment.currency,
            "received_at": payment.received_at.isoformat(),
            "reason": reason,
        },
    )
    return item
