"""What the webhook API takes and returns. The signing secret appears in exactly two responses: when an
endpoint is created and when its secret is rotated."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from payments.persistence.db import utcnow
from payments.persistence.tables import WebhookEndpoint, WebhookMessage

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class EndpointIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: str
    # Omitted or null: every event type, including types added later.
    event_types: list[str] | None = None
    description: str = ""


class EndpointPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: str | msgspec.UnsetType = msgspec.UNSET
    event_types: list[str] | msgspec.UnsetType | None = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET


class ReplayIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    since: AwareDatetime  # messages created at or after this time
    until: AwareDatetime | None = None
    # Only what was not delivered (failed, or skipped while the endpoint was disabled).
    only_undelivered: bool = False


class EndpointView(msgspec.Struct, kw_only=True):
    id: str
    url: str
    description: str
    event_types: list[str] | None
    status: str  # enabled | disabled
    # by_client | gone (the receiver answered 410) | failing (every attempt failed for 5 days)
    disabled_reason: str | None
    disabled_at: datetime | None
    # Set while every attempt is failing: the endpoint is disabled 5 days after this.
    failing_since: datetime | None
    # After a rotation, the old secret also signs until this time.
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointView, kw_only=True):
    secret: str  # whsec_...: shown only now, store it


class EndpointList(msgspec.Struct):
    items: list[EndpointView]


class MessageView(msgspec.Struct, kw_only=True):
    id: str  # the webhook-id header
    event_id: str
    event_type: str
    case_id: str | None
    status: str  # pending | delivered | failed | skipped
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    delivered_at: datetime | None
    created_at: datetime


class MessagePage(msgspec.Struct):
    items: list[MessageView]
    next_cursor: str | None


class DeliveryView(msgspec.Struct, kw_only=True):
    id: str
    message_id: str
    attempt: int
    at: datetime
    status_code: int | None  # null: no answer (network error or timeout, see `error`)
    latency_ms: int
    outcome: str  # delivered | retry | failed | gone
    error: str
    response_body: str  # the first 1000 characters


class DeliveryPage(msgspec.Struct):
    items: list[DeliveryView]
    next_cursor: str | None


class ReplayResult(msgspec.Struct):
    replayed: int  # messages queued again, each with its original webhook-id


class EventTypeDoc(msgspec.Struct):
    type: str
    version: int
    summary: str
    example: dict[str, object]


def endpoint_view(row: WebhookEndpoint, now: datetime | None = None) -> EndpointView:
    now = now or utcnow()
    until = row.previous_secret_until
    return EndpointView(
        id=row.id,
        url=row.url,
        description=row.description,
        event_types=row.event_types,
        status=row.status,
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        failing_since=row.failing_since,
        previous_secret_expires_at=until if until is not None and until > now else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def message_view(row: WebhookMessage) -> MessageView:
    return MessageView(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        case_id=row.case_id,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )
