"""Writing outbound events: always inside the transaction of the change they report.

Delivery (signing, retries, ordering per case) is the dispatcher's job; here an event is only recorded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import OutboxEvent


def emit(
    session: AsyncSession, client_id: str, event_type: str, *, case_id: str | None, payload: dict[str, Any]
) -> str:
    """Payloads carry ids and amounts only, never personal data."""
    event_id = new_id("evt")
    session.add(
        OutboxEvent(
            id=event_id,
            client_id=client_id,
            type=event_type,
            case_id=case_id,
            payload=payload,
            created_at=utcnow(),
        )
    )
    return event_id
