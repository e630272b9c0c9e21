"""The append-only audit trail: one row per state change or staff action, in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import AuditEvent


def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    client_id: str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> None:
    """`before` and `after` must never hold personal data in clear: pass masked values or none."""
    session.add(
        AuditEvent(
            id=new_id("aud"),
            client_id=client_id,
            at=utcnow(),
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            before=before,
            after=after,
            reason=reason,
        )
    )
