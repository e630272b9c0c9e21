"""An endpoint's health after a batch of attempts: the failure flag, and disabling on 410 or after five
days of nothing but failures (whatever was waiting for it is then skipped, to be replayed)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.outbox.endpoints import skip_pending
from payments.outbox.schedule import FAILING_LIMIT
from payments.persistence.tables import WebhookEndpoint

log = logging.getLogger("payrecon.webhooks")


async def record_endpoint_health(
    session: AsyncSession, succeeded: set[str], failed: set[str], gone: set[str], now: datetime
) -> None:
    """`failed` excludes endpoints that also succeeded in the batch. Endpoints are updated in sorted
    order, so two dispatchers lock them in the same order."""
    if succeeded:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_(sorted(succeeded)), WebhookEndpoint.failing_since.is_not(None))
            .values(failing_since=None)
        )
    for endpoint_id in sorted(failed):
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
            .values(failing_since=now)
        )
    for endpoint_id in sorted(failed | gone):
        reason = "gone" if endpoint_id in gone else "failing"
        query = update(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.status == "enabled"
        )
        if reason == "failing":
            query = query.where(WebhookEndpoint.failing_since <= now - FAILING_LIMIT)
        done = await session.execute(
            query.values(status="disabled", disabled_reason=reason, disabled_at=now, updated_at=now)
        )
        if done.rowcount:  # type: ignore[attr-defined]
            await skip_pending(session, endpoint_id)
            log.warning(
                "webhook endpoint %s disabled: %s", endpoint_id, reason, extra={"event": "webhook.disabled"}
            )
