"""What the webhook API takes and returns. The signing secret appears in exactly two responses: when an
endpoint is created and when its secret is rotated."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

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
