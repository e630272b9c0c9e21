"""Provider orders: one per payment attempt, created at the provider and recorded here first.

The order row is written before the provider is called, so a notification can never arrive for an
order we have no record of; if the provider call fails the order is marked failed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from payments.domain.errors import FieldError, NotFound
from payments.domain.money import Money
from payments.persistence.db import Database, utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Case, Order
from providers.base import OrderRequest, PayAction, Provider, ProviderError, Scene

log = logging.getLogger("payrecon.orders")
DEFAULT_ORDER_TTL = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class StartedOrder:
    order_id: str
    out_trade_no: str
    action: PayAction


def new_out_trade_no() -> str:
    # The one format every rail accepts: [A-Za-z0-9]{8,32} (providers.md section 0).
    return "PR" + new_id("x")[2:].upper()


class OrderService:
    def __init__(self, db: Database, providers: Mapping[str, Provider], public_base_url: str) -> None:
        self.db = db
        self.providers = providers
        self.public_base_url = public_base_url

    def notify_url(self, provider: str) -> str:
        return f"{self.public_base_url}/notify/{provider}"

    async def start(
        self,
        *,
        client_id: str,
        case_id: str | None,
        provider: str,
        amount_fen: int,
        scene: Scene,
        subject: str,
        return_url: str,
        link_id: str | None = None,
        client_ip: str = "127.0.0.1",
        ttl: timedelta = DEFAULT_ORDER_TTL,
        payer_id: str = "",
    ) -> StartedOrder:
        """`payer_id` (Scene.IN_APP: the payer's id at the provider) goes to the provider only."""
        rail = self.providers.get(provider)
        if rail is None:
            raise FieldError("channel", f"{provider!r} is not an enabled payment channel")
        now = utcnow()
        expires_at = now + ttl
        order = Order(
            id=new_id("ord"),
            client_id=client_id,
            case_id=case_id,
            link_id=link_id,
            provider=provider,
            out_trade_no=new_out_trade_no(),
            amount_fen=amount_fen,
            currency="CNY",
            status="pending",
            provider_txn_id=None,
            created_at=now,
            expires_at=expires_at,
            paid_at=None,
        )
        async with self.db.transaction() as session:
            if case_id is not None:
                case = await session.get(Case, case_id)
                if case is None or case.client_id != client_id:
                    raise NotFound("no such case")
            session.add(order)
        request = OrderRequest(
            out_trade_no=order.out_trade_no,
            amount=Money(amount_fen),
            subject=subject,
            notify_url=self.notify_url(provider),
            return_url=return_url,
            expires_at=expires_at,
            scene=scene,
            client_ip=client_ip,
            payer_id=payer_id,
        )
        try:
            action = await rail.create_order(request)
        except ProviderError:
            await self._mark(order.id, "failed")
            raise
        if action.qr_payload or action.provider_ref:
            async with self.db.transaction() as session:
                row = await session.get_one(Order, order.id)
                row.qr_payload = action.qr_payload or None
                row.provider_ref = action.provider_ref
        return StartedOrder(order.id, order.out_trade_no, action)

    async def _mark(self, order_id: str, status: str) -> None:
        async with self.db.transaction() as session:
            order = await session.get_one(Order, order_id)
            if order.status == "pending":
                order.status = status

    async def get(self, order_id: str) -> Order:
        async with self.db.sessions() as session:
            order = await session.get(Order, order_id)
        if order is None:
            raise NotFound("no such order")
        return order

    async def expired_pending(self, now: datetime, limit: int = 200) -> list[Order]:
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(Order)
                .where(Order.status == "pending", Order.expires_at < now)
                .order_by(Order.id)
                .limit(limit)
            )
            return list(rows.scalars())
