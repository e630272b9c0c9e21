"""Case-system API for outbound webhooks: endpoints, secret rotation, the delivery log, replay, and the
catalogue of event types with an example of each."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import PathParameter, QueryParameter

from payments.api.auth import principal_of, require
from payments.api.body import decode_json
from payments.api.openapi import json_body
from payments.outbox.events import EVENT_CLASSES, EXAMPLES, json_schema, summary
from payments.outbox.schedule import RETRY_DELAYS
from payments.outbox.views import (
    DeliveryPage,
    EndpointIn,
    EndpointList,
    EndpointPatch,
    EndpointView,
    EndpointWithSecret,
    EventTypeDoc,
    MessagePage,
    MessageView,
    ReplayIn,
    ReplayResult,
)
from payments.services.access import Role

MANAGERS = (Role.CASE_SYSTEM,)
READERS = (Role.CASE_SYSTEM, Role.FINANCE)
MessageStatus = Literal["pending", "delivered", "failed", "skipped"]


def _schedule() -> str:
    def human(seconds: float) -> str:
        for unit, size in (("h", 3600), ("min", 60)):
            if seconds >= size:
                return f"{seconds / size:g} {unit}"
        return f"{seconds:g} s"

    return ", ".join(human(d.total_seconds()) for d in RETRY_DELAYS)


EVENT_TABLE = "\n".join(
    ["| type | version | what |", "|---|---|---|"]
    + [f"| `{t}` | {EXAMPLES[t].version} | {summary(t)} |" for t in EVENT_CLASSES]
)

DELIVERY = f"""
Each event is POSTed as JSON, signed per the Standard Webhooks spec: headers `webhook-id` (the same on
every retry and replay: deduplicate on it), `webhook-timestamp` (Unix seconds) and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, several space-separated during a secret rotation).
Any 2xx is success. Network errors, timeouts (15 s), 408, 429 and 5xx are retried after
{_schedule()} (with jitter; Retry-After is honoured on 429 and 503). 410 disables the endpoint; other
answers fail the message (replay it). An endpoint whose every attempt fails for 5 days is disabled with
`disabled_reason: failing`. Per case, an event is delivered only after the earlier ones.

Event types (example of each at `GET /v1/webhook-events`):

{EVENT_TABLE}
"""


class WebhookEndpointsController(Controller):
    path = "/v1/webhook-endpoints"
    tags = ["webhooks"]

    @post(
        "/",
        status_code=201,
        operation_class=json_body(EndpointIn),
        summary="Register a webhook endpoint; the response holds its signing secret, shown only once",
        description="`url` must be https (plain http only to loopback in sandbox mode) and must not resolve "
        "to a private address. `event_types` omitted means every type.\n" + DELIVERY,
    )
    async def create(self, request: Request) -> EndpointWithSecret:
        principal = require(await principal_of(request), *MANAGERS)
        data = decode_json(await request.body(), EndpointIn)
        return await request.app.state.services.webhooks.create(principal, data)

    @get("/", summary="The client's webhook endpoints (secrets are never shown again)")
    async def list(self, request: Request) -> EndpointList:
        principal = require(await principal_of(request), *READERS)
        return await request.app.state.services.webhooks.list(principal)

    @get("/{endpoint_id:str}", summary="One webhook endpoint, with its status and failure flag")
    async def read(self, request: Request, endpoint_id: Annotated[str, PathParameter()]) -> EndpointView:
        principal = require(await principal_of(request), *READERS)
        return await request.app.state.services.webhooks.get(principal, endpoint_id)

    @patch(
        "/{endpoint_id:str}",
        operation_class=json_body(EndpointPatch),
        summary="Change the URL, event types or description",
    )
    async def update(self, request: Request, endpoint_id: Annotated[str, PathParameter()]) -> EndpointView:
        principal = require(await principal_of(request), *MANAGERS)
        data = decode_json(await request.body(), EndpointPatch)
        return await request.app.state.services.webhooks.update(principal, endpoint_id, data)

    @delete("/{endpoint_id:str}", status_code=204, summary="Delete an endpoint: nothing more is sent to it")
    async def remove(self, request: Request, endpoint_id: Annotated[str, PathParameter()]) -> None:
        principal = require(await principal_of(request), *MANAGERS)
        await request.app.state.services.webhooks.delete(principal, endpoint_id)

    @post(
        "/{endpoint_id:str}/disable",
        status_code=200,
        summary="Disable an endpoint; messages waiting for it are skipped (replay them after enabling)",
    )
    async def disable(self, request: Request, endpoint_id: Annotated[str, PathParameter()]) -> EndpointView:
        principal = require(await principal_of(request), *MANAGERS)
        return await request.app.state.services.webhooks.set_enabled(principal, endpoint_id, False)

    @post(
        "/{endpoint_id:str}/enable",
        status_code=200,
        summary="Enable an endpoint again (also after it was disabled for failing); clears the failure flag",
    )
    async def enable(self, request: Request, endpoint_id: Annotated[str, PathParameter()]) -> EndpointView:
        principal = require(await principal_of(request), *MANAGERS)
        return await request.app.state.services.webhooks.set_enabled(principal, endpoint_id, True)

    @post(
        "/{endpoint_id:str}/rotate-secret",
        status_code=200,
        summary="New signing secret, shown once; the old one keeps signing beside it for 24 hours",
    )
    async def rotate(
        self, request: Request, endpoint_id: Annotated[str, PathParameter()]
    ) -> EndpointWithSecret:
        principal = require(await principal_of(request), *MANAGERS)
        return await request.app.state.services.webhooks.rotate_secret(principal, endpoint_id)

    @get("/{endpoint_id:str}/messages", summary="Messages to the endpoint, newest first, with their status")
    async def messages(
        self,
        request: Request,
        endpoint_id: Annotated[str, PathParameter()],
        status: Annotated[MessageStatus | None, QueryParameter()] = None,
        cursor: Annotated[str | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> MessagePage:
        principal = require(await principal_of(request), *READERS)
        return await request.app.state.services.webhooks.messages(
            principal, endpoint_id, status=status, cursor=cursor, limit=limit
        )

    @get(
        "/{endpoint_id:str}/deliveries",
        summary="Every delivery attempt, newest first: status code, latency, the start of the answer",
    )
    async def deliveries(
        self,
        request: Request,
        endpoint_id: Annotated[str, PathParameter()],
        message_id: Annotated[str | None, QueryParameter()] = None,
        cursor: Annotated[str | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> DeliveryPage:
        principal = require(await principal_of(request), *READERS)
        return await request.app.state.services.webhooks.deliveries(
            principal, endpoint_id, message_id=message_id, cursor=cursor, limit=limit
        )

    @post(
        "/{endpoint_id:str}/messages/{message_id:str}/replay",
        status_code=202,
        summary="Send one message again, with its original webhook-id",
    )
    async def replay_one(
        self,
        request: Request,
        endpoint_id: Annotated[str, PathParameter()],
        message_id: Annotated[str, PathParameter()],
    ) -> MessageView:
        principal = require(await principal_of(request), *MANAGERS)
        return await request.app.state.services.webhooks.replay_message(
            principal.client_id, message_id, actor=principal.actor, endpoint_id=endpoint_id
        )

    @post(
        "/{endpoint_id:str}/replay",
        status_code=202,
        operation_class=json_body(ReplayIn),
        summary="Send again every message since a time (optionally only those not delivered), in order",
    )
    async def replay_since(
        self, request: Request, endpoint_id: Annotated[str, PathParameter()]
    ) -> ReplayResult:
        principal = require(await principal_of(request), *MANAGERS)
        data = decode_json(await request.body(), ReplayIn)
        count = await request.app.state.services.webhooks.replay_since(
            principal.client_id,
            endpoint_id,
            since=data.since,
            until=data.until,
            only_undelivered=data.only_undelivered,
            actor=principal.actor,
        )
        return ReplayResult(count)


@get(
    "/v1/webhook-events",
    tags=["webhooks"],
    summary="Every webhook event type, with its version and an example body",
    description=DELIVERY,
)
async def event_types() -> list[EventTypeDoc]:
    return [
        EventTypeDoc(t, example.version, summary(t), msgspec.to_builtins(example))
        for t, example in EXAMPLES.items()
    ]


@get(
    "/v1/webhook-events/schema",
    tags=["webhooks"],
    summary="JSON Schema of every webhook body (oneOf, discriminated by `type`)",
)
async def event_schema() -> dict[str, Any]:
    return json_schema()


WEBHOOK_ROUTES = [WebhookEndpointsController, event_types, event_schema]
