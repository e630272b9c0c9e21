"""Webhook tests: a receiver that verifies every delivery with the `standardwebhooks` package, a clock the
tests move instead of sleeping, and a dispatcher wired to both.

Every test registers its endpoints under a path of its own on the receiver; the dispatcher also sends
whatever earlier tests left due, which the receiver answers 200 and does not record.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from payments.domain.money import Money
from payments.outbox.dispatcher import Dispatcher
from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Order, WebhookDelivery, WebhookEndpoint, WebhookMessage
from payments.services.container import Services
from payments.services.orders import new_out_trade_no
from payments.services.outbox import emit
from payments.services.recording import record_order_payment
from tests.api.conftest import case_body
from tests.conftest import Tenant

RECEIVER = "http://127.0.0.1:9"  # loopback: allowed in sandbox mode; never dialled (in-process transport)


@dataclass
class Delivery:
    webhook_id: str
    timestamp: str
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]


Answer = Callable[[httpx.Request], Awaitable[httpx.Response] | httpx.Response]


@dataclass
class Hook:
    """One endpoint's view of the receiver: what arrived, verified, and how to answer next."""

    path: str
    secret: str = ""
    endpoint_id: str = ""
    received: list[Delivery] = field(default_factory=list)  # verified and answered 2xx
    arrived: list[Delivery] = field(default_factory=list)  # verified, whatever the answer
    # None: 204. Otherwise called per request; may return a response or raise an httpx error.
    answer: Answer | None = None

    @property
    def url(self) -> str:
        return RECEIVER + self.path

    def types(self) -> list[str]:
        return [d.body["type"] for d in self.received]

    def by_case(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for d in self.received:
            case_id = d.body["data"].get("case_id")
            if case_id:
                out.setdefault(case_id, []).append(d.body["id"])
        return out


class Receiver:
    """The case system's side: verifies each request exactly as a case system would."""

    def __init__(self) -> None:
        self.hooks: dict[str, Hook] = {}
        self.refused: list[str] = []  # paths whose signature did not verify
        self.transport = httpx.MockTransport(self._handle)

    def hook(self) -> Hook:
        hook = Hook(path=f"/hooks/{uuid.uuid4().hex}")
        self.hooks[hook.path] = hook
        return hook

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        hook = self.hooks.get(request.url.path)
        if hook is None:
            return httpx.Response(200)  # left by an earlier test
        response = httpx.Response(204)
        if hook.answer is not None:  # may raise, as a network error would
            answer = hook.answer(request)
            response = await answer if asyncio.iscoroutine(answer) else answer  # type: ignore[assignment]
        headers = dict(request.headers)
        try:
            Webhook(hook.secret).verify(request.content, headers)
        except Exception:  # any failure to verify fails the test that looks at `refused`
            self.refused.append(hook.path)
            return httpx.Response(401)
        delivery = Delivery(
            headers["webhook-id"],
            headers["webhook-timestamp"],
            json.loads(request.content),
            request.content,
            headers,
        )
        hook.arrived.append(delivery)
        if 200 <= response.status_code < 300:
            hook.received.append(delivery)
        return response


class Clock:
    """The real time plus however far the test has jumped ahead."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    @property
    def now(self) -> datetime:
        return utcnow() + self.offset

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def dispatcher(services: Services, receiver: Receiver, clock: Clock) -> AsyncIterator[Dispatcher]:
    d = Dispatcher(services.db, services.pii, transport=receiver.transport, clock=clock, rng=random.Random(7))
    yield d
    await d.aclose()


@pytest.fixture
def pay(services: Services) -> Callable[[Tenant, str, int], Awaitable[str | None]]:
    """Money received for an order of the case, recorded the way every provider path records it, then
    applied to the case by the applier (as after a notification)."""

    async def pay(tenant: Tenant, case_id: str, amount_fen: int) -> str | None:
        now = utcnow()
        async with services.db.transaction() as session:
            order = Order(
                id=new_id("ord"),
                client_id=tenant.client_id,
                case_id=case_id,
                link_id=None,
                provider="alipay",
                out_trade_no=new_out_trade_no(),
                amount_fen=amount_fen,
                currency="CNY",
                status="pending",
                provider_txn_id=None,
                qr_payload=None,
                provider_ref="",
                created_at=now,
                expires_at=now + timedelta(minutes=30),
                paid_at=None,
            )
            session.add(order)
            await session.flush()
            payment_id = await record_order_payment(
                session,
                order=order,
                provider="alipay",
                provider_txn_id=uuid.uuid4().hex,
                amount=Money(amount_fen),
                received_at=None,
                source="notification",
            )
        await services.applier.sweep()
        return payment_id

    return pay


async def register(
    client: httpx.AsyncClient, tenant: Tenant, hook: Hook, event_types: list[str] | None = None
) -> str:
    body: dict[str, Any] = {"url": hook.url, "description": "test receiver"}
    if event_types is not None:
        body["event_types"] = event_types
    resp = await client.post("/v1/webhook-endpoints", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    hook.secret, hook.endpoint_id = resp.json()["secret"], resp.json()["id"]
    return hook.endpoint_id


async def new_case(client: httpx.AsyncClient, tenant: Tenant) -> str:
    resp = await client.post("/v1/cases", json=case_body(), headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def updated_payload(case_id: str, total_fen: int) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "status": "partially_paid",
        "balance": {"principal_fen": total_fen, "interest_fen": 0, "fees_fen": 0, "total_fen": total_fen},
        "credit_fen": 0,
    }


async def emit_updates(services: Services, tenant: Tenant, case_id: str, totals: list[int]) -> list[str]:
    """case.updated events for one case, each in its own transaction; their event ids in order."""
    ids = []
    for total in totals:
        async with services.db.transaction() as session:
            ids.append(
                emit(
                    session,
                    tenant.client_id,
                    "case.updated",
                    case_id=case_id,
                    payload=updated_payload(case_id, total),
                )
            )
    return ids


async def messages_of(services: Services, endpoint_id: str) -> list[WebhookMessage]:
    async with services.db.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(WebhookMessage)
                    .where(WebhookMessage.endpoint_id == endpoint_id)
                    .order_by(WebhookMessage.seq)
                )
            ).all()
        )


async def deliveries_of(services: Services, endpoint_id: str) -> list[WebhookDelivery]:
    async with services.db.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.endpoint_id == endpoint_id)
                    .order_by(WebhookDelivery.message_id, WebhookDelivery.attempt)
                )
            ).all()
        )


async def endpoint_row(services: Services, endpoint_id: str) -> WebhookEndpoint:
    async with services.db.sessions() as session:
        return await session.get_one(WebhookEndpoint, endpoint_id)


def answering(*statuses: int, headers: dict[str, str] | None = None) -> Answer:
    """Answer with these statuses in turn, then 204 for ever."""
    queue = list(statuses)

    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(queue.pop(0) if queue else 204, headers=headers)

    return answer


def unreachable(_request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused")
