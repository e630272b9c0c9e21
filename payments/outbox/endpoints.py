"""Use cases for webhook endpoints: register, change, disable, delete, rotate the secret, read the
delivery log, replay. Each call is one transaction with its audit row; secrets never leave encrypted
except in the two responses that hand one out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain.errors import Conflict, FieldError, NotFound, ValidationErrors
from payments.outbox.events import EVENT_TYPES
from payments.outbox.signing import new_secret
from payments.outbox.targets import Resolver, TargetPolicy, check_url, system_resolve
from payments.outbox.views import (
    DeliveryPage,
    DeliveryView,
    EndpointIn,
    EndpointList,
    EndpointPatch,
    EndpointView,
    EndpointWithSecret,
    MessagePage,
    MessageView,
    endpoint_view,
    message_view,
)
from payments.persistence.db import Database, utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import WebhookDelivery, WebhookEndpoint, WebhookMessage
from payments.security.pii import PiiCipher
from payments.services import audit
from payments.services.access import Principal

SECRET_COLUMN = "webhook_endpoints.secret"  # noqa: S105 - a column name (encryption context), not a secret
PREVIOUS_SECRET_COLUMN = "webhook_endpoints.previous_secret"  # noqa: S105 - a column name
# After a rotation the old secret keeps signing beside the new one for this long.
ROTATION_OVERLAP = timedelta(hours=24)
MAX_DESCRIPTION = 500


def _event_types(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not value:
        raise FieldError("event_types", "name at least one event type, or leave it out for every type")
    problems = [
        FieldError(f"event_types[{i}]", f"is not an event type; known: {', '.join(EVENT_TYPES)}").problems[0]
        for i, t in enumerate(value)
        if t not in EVENT_TYPES
    ]
    if problems:
        raise ValidationErrors(problems)
    return sorted(set(value), key=EVENT_TYPES.index)


def _description(value: str) -> str:
    if len(value) > MAX_DESCRIPTION:
        raise FieldError("description", f"must be at most {MAX_DESCRIPTION} characters")
    return value


def _snapshot(row: WebhookEndpoint) -> dict[str, Any]:
    """For the audit trail: the URL and settings, never a secret."""
    return {
        "url": row.url,
        "event_types": row.event_types,
        "description": row.description,
        "status": row.status,
    }


async def skip_pending(session: AsyncSession, endpoint_id: str) -> None:
    """A disabled or deleted endpoint gets nothing more; what was waiting can be replayed later."""
    await session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.endpoint_id == endpoint_id, WebhookMessage.status == "pending")
        .values(status="skipped", next_attempt_at=None)
    )


class WebhookService:
    def __init__(
        self,
        db: Database,
        pii: PiiCipher,
        policy: TargetPolicy,
        *,
        resolve: Resolver = system_resolve,
        on_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.pii = pii
        self.policy = policy
        self.resolve = resolve
        self.on_queued = on_queued  # wakes the dispatcher after a replay
        self.clock = clock

    async def create(self, principal: Principal, data: EndpointIn) -> EndpointWithSecret:
        event_types = _event_types(data.event_types)
        description = _description(data.description)
        url = await check_url(data.url, self.policy, self.resolve)
        endpoint_id, secret, now = new_id("whe"), new_secret(), self.clock()
        row = WebhookEndpoint(
            id=endpoint_id,
            client_id=principal.client_id,
            url=url,
            description=description,
            event_types=event_types,
            secret_enc=self.pii.encrypt(secret, column=SECRET_COLUMN, row_id=endpoint_id),
            previous_secret_enc=None,
            previous_secret_until=None,
            status="enabled",
            disabled_reason=None,
            disabled_at=None,
            failing_since=None,
            created_at=now,
            updated_at=now,
        )
        async with self.db.transaction() as session:
            session.add(row)
            self._audit(session, principal.actor, "webhook_endpoint.created", row, after=_snapshot(row))
        return EndpointWithSecret(**msgspec.structs.asdict(endpoint_view(row, now)), secret=secret)

    async def list(self, principal: Principal) -> EndpointList:
        async with self.db.sessions() as session:
            rows = (
                await session.scalars(
                    select(WebhookEndpoint)
                    .where(
                        WebhookEndpoint.client_id == principal.client_id, WebhookEndpoint.status != "deleted"
                    )
                    .order_by(WebhookEndpoint.id)
                )
            ).all()
        now = self.clock()
        return EndpointList([endpoint_view(r, now) for r in rows])

    async def get(self, principal: Principal, endpoint_id: str) -> EndpointView:
        async with self.db.sessions() as session:
            row = await self._find(session, principal.client_id, endpoint_id)
        return endpoint_view(row, self.clock())

    async def update(self, principal: Principal, endpoint_id: str, patch: EndpointPatch) -> EndpointView:
        changes: dict[str, Any] = {}
        if patch.event_types is not msgspec.UNSET:
            changes["event_types"] = _event_types(patch.event_types)
        if patch.description is not msgspec.UNSET:
            changes["description"] = _description(patch.description)
        if patch.url is not msgspec.UNSET:
            changes["url"] = await check_url(patch.url, self.policy, self.resolve)
        async with self.db.transaction() as session:
            row = await self._find(session, principal.client_id, endpoint_id, lock=True)
            before = _snapshot(row)
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = self.clock()
            self._audit(session, principal.actor, "webhook_endpoint.updated", row, before, _snapshot(row))
        return endpoint_view(row, self.clock())

    async def set_enabled(self, principal: Principal, endpoint_id: str, enabled: bool) -> EndpointView:
        """Enabling clears the failure flag; disabling skips what is waiting (replay it later)."""
        async with self.db.transaction() as session:
            row = await self._find(session, principal.client_id, endpoint_id, lock=True)
            before = _snapshot(row)
            now = self.clock()
            if enabled:
                row.status, row.disabled_reason, row.disabled_at, row.failing_since = (
                    "enabled",
                    None,
                    None,
                    None,
                )
            elif row.status == "enabled":
                row.status, row.disabled_reason, row.disabled_at = "disabled", "by_client", now
                await skip_pending(session, row.id)
            row.updated_at = now
            action = "webhook_endpoint.enabled" if enabled else "webhook_endpoint.disabled"
            self._audit(session, principal.actor, action, row, before, _snapshot(row))
        return endpoint_view(row, self.clock())

    async def delete(self, principal: Principal, endpoint_id: str) -> None:
        """Kept as a row (its delivery log stays for the audit trail) but gone from the API."""
        async with self.db.transaction() as session:
            row = await self._find(session, principal.client_id, endpoint_id, lock=True)
            before = _snapshot(row)
            row.status, row.updated_at = "deleted", self.clock()
            row.previous_secret_enc, row.previous_secret_until = None, None
            await skip_pending(session, row.id)
            self._audit(session, principal.actor, "webhook_endpoint.deleted", row, before, None)

    async def rotate_secret(self, principal: Principal, endpoint_id: str) -> EndpointWithSecret:
        """A new secret signs from now on; the old one signs beside it for 24 hours."""
        secret = new_secret()
        async with self.db.transaction() as session:
            row = await self._find(session, principal.client_id, endpoint_id, lock=True)
            now = self.clock()
            old = self.pii.decrypt(row.secret_enc, column=SECRET_COLUMN, row_id=row.id)
            row.previous_secret_enc = self.pii.encrypt(old, column=PREVIOUS_SECRET_COLUMN, row_id=row.id)
            row.previous_secret_until = now + ROTATION_OVERLAP
            row.secret_enc = self.pii.encrypt(secret, column=SECRET_COLUMN, row_id=row.id)
            row.updated_at = now
            self._audit(
                session,
                principal.actor,
                "webhook_endpoint.secret_rotated",
                row,
                after={"previous_secret_until": row.previous_secret_until.isoformat()},
            )
        return EndpointWithSecret(**msgspec.structs.asdict(endpoint_view(row, now)), secret=secret)

    async def messages(
        self, principal: Principal, endpoint_id: str, *, status: str | None, cursor: str | None, limit: int
    ) -> MessagePage:
        """Newest first."""
        async with self.db.sessions() as session:
            await self._find(session, principal.client_id, endpoint_id)
            query = select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint_id)
            if status:
                query = query.where(WebhookMessage.status == status)
            if cursor:
                query = query.where(WebhookMessage.id < cursor)
            rows = (await session.scalars(query.order_by(WebhookMessage.id.desc()).limit(limit + 1))).all()
        more = len(rows) > limit
        return MessagePage([message_view(r) for r in rows[:limit]], rows[limit - 1].id if more else None)

    async def deliveries(
        self,
        principal: Principal,
        endpoint_id: str,
        *,
        message_id: str | None,
        cursor: str | None,
        limit: int,
    ) -> DeliveryPage:
        """Every attempt, newest first."""
        async with self.db.sessions() as session:
            await self._find(session, principal.client_id, endpoint_id)
            query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
            if message_id:
                query = query.where(WebhookDelivery.message_id == message_id)
            if cursor:
                query = query.where(WebhookDelivery.id < cursor)
            rows = (await session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1))).all()
        more = len(rows) > limit
        items = [
            DeliveryView(
                id=r.id,
                message_id=r.message_id,
                attempt=r.attempt,
                at=r.at,
                status_code=r.status_code,
                latency_ms=r.latency_ms,
                outcome=r.outcome,
                error=r.error,
                response_body=r.response_body,
            )
            for r in rows[:limit]
        ]
        return DeliveryPage(items, rows[limit - 1].id if more else None)

    async def replay_message(
        self, client_id: str | None, message_id: str, *, actor: str, endpoint_id: str | None = None
    ) -> MessageView:
        """Queue one message again, with its webhook-id, to be sent now (in order for its case).

        `client_id` None is the operator (CLI), who may replay any client's message.
        """
        async with self.db.transaction() as session:
            query = select(WebhookMessage).where(WebhookMessage.id == message_id)
            if client_id is not None:
                query = query.where(WebhookMessage.client_id == client_id)
            if endpoint_id is not None:
                query = query.where(WebhookMessage.endpoint_id == endpoint_id)
            message = (await session.scalars(query.with_for_update())).one_or_none()
            if message is None:
                raise NotFound("no such webhook message")
            endpoint = await self._find(session, message.client_id, message.endpoint_id)
            if endpoint.status != "enabled":
                raise Conflict("the endpoint is disabled; enable it before replaying")
            if message.status != "pending":  # a pending message is on its way already
                message.status, message.tries, message.next_attempt_at = "pending", 0, self.clock()
                audit.record(
                    session,
                    actor=actor,
                    action="webhook_message.replayed",
                    entity_type="webhook_message",
                    entity_id=message.id,
                    client_id=message.client_id,
                )
        self.on_queued()
        return message_view(message)

    async def replay_since(
        self,
        client_id: str | None,
        endpoint_id: str,
        *,
        since: datetime,
        until: datetime | None = None,
        only_undelivered: bool = False,
        actor: str,
    ) -> int:
        """Queue again every message to the endpoint created in [since, until): sent in their original
        order per case, each with its original webhook-id."""
        async with self.db.transaction() as session:
            endpoint = await self._find(session, client_id, endpoint_id, lock=True)
            if endpoint.status != "enabled":
                raise Conflict("the endpoint is disabled; enable it before replaying")
            statuses = ["failed", "skipped"] if only_undelivered else ["failed", "skipped", "delivered"]
            query = (
                update(WebhookMessage)
                .where(
                    WebhookMessage.endpoint_id == endpoint_id,
                    WebhookMessage.created_at >= since,
                    WebhookMessage.status.in_(statuses),
                )
                .values(status="pending", tries=0, next_attempt_at=self.clock())
            )
            if until is not None:
                query = query.where(WebhookMessage.created_at < until)
            count = (await session.execute(query)).rowcount  # type: ignore[attr-defined]
            audit.record(
                session,
                actor=actor,
                action="webhook_endpoint.replayed",
                entity_type="webhook_endpoint",
                entity_id=endpoint_id,
                client_id=endpoint.client_id,
                after={
                    "since": since.isoformat(),
                    "until": until.isoformat() if until else None,
                    "only_undelivered": only_undelivered,
                    "messages": count,
                },
            )
        self.on_queued()
        return int(count)

    async def _find(
        self, session: AsyncSession, client_id: str | None, endpoint_id: str, *, lock: bool = False
    ) -> WebhookEndpoint:
        row = await session.get(WebhookEndpoint, endpoint_id, with_for_update=lock or None)
        if row is None or row.status == "deleted" or (client_id is not None and row.client_id != client_id):
            raise NotFound("no such webhook endpoint")
        return row

    @staticmethod
    def _audit(
        session: AsyncSession,
        actor: str,
        action: str,
        row: WebhookEndpoint,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        audit.record(
            session,
            actor=actor,
            action=action,
            entity_type="webhook_endpoint",
            entity_id=row.id,
            client_id=row.client_id,
            before=before,
            after=after,
        )
