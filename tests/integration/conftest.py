"""Inbound notifications end to end: real sandboxes, the real app, the real database.

The three sandboxes name their cashier outcomes differently; `pay_at_provider` maps one vocabulary
(pay, fail, different_amount, twice, no_notify) onto each rail, so the tests read the same for all three.

`hold(rail)` swaps the rail's notification sender for one that keeps every notification the sandbox
makes, unsent, so a test can deliver it when and as often as it likes (a captured request). Without it
the sandbox delivers into the app in the background; `drain(rail)` waits for those deliveries.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from litestar import Litestar
from sqlalchemy import func, select

from payments.domain.money import Money
from payments.persistence.db import utcnow
from payments.persistence.tables import (
    AllocationRow,
    InboxMessage,
    Order,
    OutboxEvent,
    Payment,
    PaymentException,
    Refund,
)
from payments.services.container import Services
from payments.services.orders import DEFAULT_ORDER_TTL, StartedOrder
from providers.alipay.sandbox import AlipaySandbox
from providers.bankcard.crypto import load_certificate
from providers.bankcard.sandbox import BankCardSandbox
from providers.base import OrderRequest, PayAction, RefundRequest, Scene
from providers.simulator import (
    NotificationDelivery,
    NotificationSender,
    NotifyClientFactory,
    SandboxOptions,
    load_or_create_rsa_key,
)
from providers.wechatpay.sandbox import WechatPaySandbox
from tests.api.conftest import case_body, debt
from tests.conftest import Tenant

BASE = "http://testserver.local"
RAILS = ("alipay", "wechatpay", "bankcard")
DRAIN_TIMEOUT = 20.0

# One vocabulary for the tests, each rail's own word for it at its sandbox.
OUTCOMES: dict[str, dict[str, str]] = {
    "alipay": {
        "pay": "pay",
        "fail": "fail",
        "different_amount": "other_amount",
        "twice": "twice",
        "no_notify": "no_notify",
    },
    "wechatpay": {
        "pay": "pay",
        "fail": "fail",
        "different_amount": "different_amount",
        "twice": "twice",
        "no_notify": "no_notify",
    },
    "bankcard": {
        "pay": "pay",
        "fail": "fail",
        "different_amount": "amount",
        "twice": "twice",
        "no_notify": "silent",
    },
}

# Merchant ids no sandbox of ours uses: a correctly signed notification for one of them is foreign.
FOREIGN_MERCHANT = {"alipay": "2021000999999999", "wechatpay": "1900009999", "bankcard": "777000000009999"}

# The case every test pays into: fees, then interest, then principal (Civil Code art. 561).
FEES_FEN, INTEREST_FEN, PRINCIPAL_FEN = 2_000, 5_000, 60_000
CASE_TOTAL_FEN = FEES_FEN + INTEREST_FEN + PRINCIPAL_FEN
ORDER_FEN = 10_000  # 100.00: all fees and interest, then 30.00 of principal


# -- the sandboxes ---------------------------------------------------------------------------------


async def pay_at_provider(
    services: Services, rail: str, out_trade_no: str, outcome: str = "pay", amount_fen: int | None = None
) -> None:
    """What the payer does at the provider's cashier, in the common vocabulary.

    `amount_fen` is what is paid for outcome "different_amount" (ignored otherwise).
    """
    sandbox: Any = services.rails.sandboxes[rail]
    name = OUTCOMES[rail][outcome]
    paid = amount_fen if outcome == "different_amount" else None
    if rail == "wechatpay":
        await sandbox.pay(out_trade_no, name, paid)
    else:
        await sandbox.pay(out_trade_no, name, Money(paid) if paid is not None else None)


async def open_cashier(services: Services, rail: str, action: PayAction) -> None:
    """Do what the borrower's browser does with a pay action before the provider knows the order.

    The bank card order exists at UnionPay only once the browser posts the consume form; an Alipay
    WAP order only once the browser opens the signed gateway URL. QR orders exist already.
    """
    sandbox: Any = services.rails.sandboxes[rail]
    if action.kind == "form":
        answer = await sandbox.handle(httpx.Request("POST", action.url, data=dict(action.fields)))
        assert answer.status_code == 303, answer.text
    elif action.kind == "redirect" and rail == "alipay":
        answer = await sandbox.handle(httpx.Request("GET", action.url))
        assert answer.status_code == 200, answer.text


async def start_order(
    services: Services,
    tenant: Tenant,
    case_id: str | None,
    rail: str,
    amount_fen: int = ORDER_FEN,
    *,
    scene: Scene = Scene.QR,
    ttl: timedelta = DEFAULT_ORDER_TTL,
) -> StartedOrder:
    started = await services.orders.start(
        client_id=tenant.client_id,
        case_id=case_id,
        provider=rail,
        amount_fen=amount_fen,
        scene=scene,
        subject="还款 repayment",
        return_url=f"{BASE}/done",
        ttl=ttl,
    )
    await open_cashier(services, rail, started.action)
    return started


async def order_unknown_to_us(services: Services, rail: str, amount_fen: int = ORDER_FEN) -> str:
    """An order that exists at the provider (made through our own client) but was never recorded here."""
    out_trade_no = "XX" + secrets.token_hex(10).upper()
    request = OrderRequest(
        out_trade_no=out_trade_no,
        amount=Money(amount_fen),
        subject="还款 repayment",
        notify_url=services.orders.notify_url(rail),
        return_url=f"{BASE}/done",
        expires_at=utcnow() + timedelta(minutes=30),
        scene=Scene.QR,
    )
    action = await services.rails.providers[rail].create_order(request)
    await open_cashier(services, rail, action)
    return out_trade_no


class HeldSender(NotificationSender):
    """Keeps each notification the sandbox would send, for the test to deliver itself."""

    def send(self, delivery: NotificationDelivery) -> NotificationDelivery:
        self.deliveries.append(delivery)
        return delivery


@pytest.fixture
def notify_client_factory(client: httpx.AsyncClient, app_holder: dict[str, Litestar]) -> NotifyClientFactory:
    """How a sandbox reaches /notify/<rail>: straight into the app under test."""

    def factory() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app_holder["app"]))

    return factory


@pytest.fixture
def hold(
    services: Services, notify_client_factory: NotifyClientFactory
) -> Iterator[Callable[[str], HeldSender]]:
    """hold(rail) -> the HeldSender now in place of the rail sandbox's sender (restored afterwards)."""
    saved: dict[str, NotificationSender] = {}

    def hold_rail(rail: str) -> HeldSender:
        sandbox: Any = services.rails.sandboxes[rail]
        held = HeldSender(notify_client_factory, time_factor=1.0)
        saved.setdefault(rail, sandbox.sender)
        sandbox.sender = held
        return held

    yield hold_rail
    for rail, sender in saved.items():
        services.rails.sandboxes[rail].sender = sender  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
async def _no_stray_deliveries(services: Services) -> AsyncIterator[None]:
    """Refused notifications are retried for hours (time-compressed: still minutes): stop them.

    Before the test too, so `drain` never waits on another test's retries.
    """
    await _cancel_pending(services)
    yield
    await _cancel_pending(services)


async def _cancel_pending(services: Services) -> None:
    for sandbox in services.rails.sandboxes.values():
        await sandbox.sender.aclose()  # type: ignore[attr-defined]


async def drain(services: Services, rail: str) -> None:
    sandbox: Any = services.rails.sandboxes[rail]
    await asyncio.wait_for(sandbox.sender.drain(), timeout=DRAIN_TIMEOUT)
    await asyncio.wait_for(services.applier.drain(), timeout=DRAIN_TIMEOUT)


async def deliver(held: HeldSender, delivery: NotificationDelivery) -> httpx.Response:
    """One attempt of a captured notification, through HTTP into the app; the app's answer."""
    response = await held.deliver_now(delivery)
    assert response is not None, "the notification could not be delivered"
    return response


def lower_headers(request: httpx.Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


# -- a foreign merchant's sandbox: the provider's own keys, another merchant id --------------------


def foreign_sandbox(
    services: Services, rail: str, notify_client_factory: NotifyClientFactory
) -> AlipaySandbox | WechatPaySandbox | BankCardSandbox:
    """A second sandbox of `rail` that signs with the same platform keys as ours (same data dir, so
    the service trusts its signatures) but serves another merchant id, holding its notifications."""
    options = SandboxOptions(
        data_dir=services.settings.data_path / "sandbox", public_base_url=services.public_base_url
    )
    folder = options.data_dir / rail
    held = HeldSender(notify_client_factory, time_factor=1.0)
    sandbox: Any
    if rail == "alipay":
        sandbox = AlipaySandbox(
            options,
            platform_key=load_or_create_rsa_key(folder / "alipay_platform_key.pem"),
            merchant_public_key=load_or_create_rsa_key(folder / "merchant_app_key.pem").public_key(),
            notify_client_factory=notify_client_factory,
            app_id=FOREIGN_MERCHANT[rail],
        )
    elif rail == "wechatpay":
        ours: Any = services.rails.sandboxes[rail]
        sandbox = WechatPaySandbox(
            options=options,
            notify_client_factory=notify_client_factory,
            platform_key=load_or_create_rsa_key(folder / "platform_key.pem"),
            platform_key_id=ours.platform_key_id,
            merchant_public_key=load_or_create_rsa_key(folder / "merchant_key.pem").public_key(),
            merchant_serial_no=ours.merchant_serial_no,
            mchid=FOREIGN_MERCHANT[rail],
            apiv3_key=(folder / "apiv3_key.txt").read_text("ascii").strip(),
        )
    else:
        sandbox = BankCardSandbox(
            options,
            notify_client_factory,
            mer_id=FOREIGN_MERCHANT[rail],
            merchant_cert=load_certificate((folder / "merchant.crt.pem").read_bytes()),
            platform_key=load_or_create_rsa_key(folder / "sign.key.pem"),
            signing_cert_pem=load_certificate((folder / "sign.crt.pem").read_bytes()).public_bytes(
                serialization.Encoding.PEM
            ),
        )
    sandbox.sender = held
    return sandbox  # type: ignore[no-any-return]


def copy_order(services: Services, rail: str, out_trade_no: str, foreign: Any) -> None:
    """Give the foreign sandbox an order with our order's number and amount (its merchant's own)."""
    ours: Any = services.rails.sandboxes[rail]
    order = copy.deepcopy(ours.orders[out_trade_no])
    if rail == "wechatpay":
        order = dataclasses.replace(order, mchid=foreign.mchid)
    foreign.orders[out_trade_no] = order


# -- the case and what the database holds ----------------------------------------------------------


async def new_case(client: httpx.AsyncClient, tenant: Tenant) -> str:
    body = case_body(
        None,
        debt("D1", "2024-01-31", fees_fen=FEES_FEN, interest_fen=INTEREST_FEN, principal_fen=PRINCIPAL_FEN),
    )
    resp = await client.post("/v1/cases", json=body, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def case_view(client: httpx.AsyncClient, tenant: Tenant, case_id: str) -> dict[str, Any]:
    resp = await client.get(f"/v1/cases/{case_id}", headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def payments_of(services: Services, out_trade_no: str) -> list[Payment]:
    async with services.db.sessions() as session:
        rows = await session.scalars(
            select(Payment)
            .where(Payment.out_trade_no == out_trade_no)
            .order_by(Payment.created_at, Payment.id)
        )
        return list(rows)


async def inbox_of(services: Services, rail: str, out_trade_no: str) -> list[InboxMessage]:
    async with services.db.sessions() as session:
        rows = await session.scalars(
            select(InboxMessage).where(
                InboxMessage.provider == rail, InboxMessage.out_trade_no == out_trade_no
            )
        )
        return list(rows)


async def order_row(services: Services, out_trade_no: str) -> Order | None:
    async with services.db.sessions() as session:
        return await session.scalar(select(Order).where(Order.out_trade_no == out_trade_no))


async def outbox_types(services: Services, case_id: str) -> Counter[str]:
    async with services.db.sessions() as session:
        rows = await session.scalars(select(OutboxEvent.type).where(OutboxEvent.case_id == case_id))
        return Counter(rows)


async def outbox_events(services: Services, case_id: str, event_type: str) -> list[dict[str, Any]]:
    async with services.db.sessions() as session:
        rows = await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.case_id == case_id, OutboxEvent.type == event_type)
        )
        return list(rows)


async def allocations_of(services: Services, payment_id: str) -> list[AllocationRow]:
    async with services.db.sessions() as session:
        rows = await session.scalars(select(AllocationRow).where(AllocationRow.payment_id == payment_id))
        return list(rows)


async def exceptions_of(services: Services, payment_id: str) -> list[PaymentException]:
    async with services.db.sessions() as session:
        rows = await session.scalars(
            select(PaymentException).where(PaymentException.payment_id == payment_id)
        )
        return list(rows)


async def refunds_of(services: Services, rail: str, out_trade_no: str) -> list[Refund]:
    async with services.db.sessions() as session:
        rows = await session.scalars(
            select(Refund).where(Refund.provider == rail, Refund.out_trade_no == out_trade_no)
        )
        return list(rows)


async def assert_ledger_holds(services: Services, payment: Payment) -> None:
    """A payment's allocations plus its unapplied remainder add up to its amount."""
    async with services.db.sessions() as session:
        allocated = await session.scalar(
            select(func.coalesce(func.sum(AllocationRow.amount_fen), 0)).where(
                AllocationRow.payment_id == payment.id
            )
        )
        unapplied = await session.scalar(select(Payment.unapplied_fen).where(Payment.id == payment.id))
    assert int(allocated or 0) + int(unapplied or 0) == payment.amount_fen, (
        allocated,
        unapplied,
        payment.amount_fen,
    )


# -- the providers' acknowledgements ---------------------------------------------------------------


def assert_success_ack(rail: str, response: httpx.Response) -> None:
    if rail == "alipay":
        # Alipay reads the body: exactly these seven bytes.
        assert (response.status_code, response.content) == (200, b"success"), response.content
    elif rail == "wechatpay":
        assert response.status_code == 204, response.content
    else:
        assert response.status_code == 200, response.content


def assert_failure_ack(rail: str, response: httpx.Response) -> None:
    """What makes each provider send the notification again: anything but `success` for Alipay,
    a 4xx/5xx for WeChat Pay (a 200 would stop its retries), anything but 200 for UnionPay."""
    if rail == "alipay":
        assert response.content != b"success", response.content
    elif rail == "wechatpay":
        assert 400 <= response.status_code < 600, response.status_code
    else:
        assert response.status_code != 200, response.status_code


async def paid_then_refunded(client, services, tenant, rail, hold):
    """A paid order, then a full refund asked of the provider; returns the refund's notification unsent."""
    case_id = await new_case(client, tenant)
    # Alipay notifies refunds only for WAP (mobile) payments, not for face-to-face QR ones.
    order = await start_order(
        services, tenant, case_id, rail, scene=Scene.MOBILE if rail == "alipay" else Scene.QR
    )
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    await drain(services, rail)
    [payment] = await payments_of(services, order.out_trade_no)
    row = await order_row(services, order.out_trade_no)
    assert row is not None
    held = hold(rail)
    refund_no = "RF" + secrets.token_hex(8).upper()
    await services.rails.providers[rail].refund(
        RefundRequest(
            out_trade_no=order.out_trade_no,
            refund_no=refund_no,
            amount=Money(ORDER_FEN),
            order_total=Money(ORDER_FEN),
            reason="多付退款",
            provider_txn_id=payment.provider_txn_id,
            provider_ref=row.provider_ref,
        )
    )
    [notification] = held.deliveries
    return order, payment, refund_no, held, notification
