"""Orders still pending after their expiry, or whose link takes no more money: ask the provider, record
what it reports, close the rest.

A borrower may open two tabs (Alipay in one, WeChat Pay in the other); once one is paid and the link
is done, the other order is closed at the provider on the next run (every minute) instead of at its
expiry, so a link's payment cap is overrun only if both are paid within that minute (and then the
excess is a credit on the case, flagged for refund).

A notification may never come (the provider gave up, our endpoint was down for a day); the query is
the other authoritative source. A paid order found this way is recorded exactly like a notified one,
under the same unique (provider, provider_txn_id), so a late notification afterwards is a duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select

from payments.domain.money import Money
from payments.persistence.db import Database
from payments.persistence.tables import Link, Order
from payments.services import audit
from payments.services.recording import record_order_payment
from providers.base import OrderState, Provider, ProviderError, TxnStatus

log = logging.getLogger("payrecon.pending")
LINK_DONE = ("paid", "expired", "revoked")


@dataclass
class PendingReport:
    checked: int = 0
    paid: int = 0
    closed: int = 0
    still_pending: int = 0
    errors: list[str] = field(default_factory=list)


async def settle_expired_orders(
    db: Database, providers: Mapping[str, Provider], now: datetime, batch: int = 200
) -> PendingReport:
    report = PendingReport()
    async with db.sessions() as session:
        orders = list(
            (
                await session.execute(
                    select(Order)
                    .outerjoin(Link, Link.id == Order.link_id)
                    .where(
                        Order.status == "pending",
                        # Past its expiry, or its link takes no more money (paid, its payment cap
                        # reached, revoked, expired): another tab's order must not be paid now.
                        or_(Order.expires_at < now, Link.status.in_(LINK_DONE)),
                    )
                    .order_by(Order.id)
                    .limit(batch)
                )
            ).scalars()
        )
    for order in orders:
        provider = providers.get(order.provider)
        if provider is None:
            continue
        report.checked += 1
        try:
            state = await provider.query_order(order.out_trade_no, order.provider_ref)
        except ProviderError as exc:
            report.errors.append(f"{order.out_trade_no}: {exc.code}")
            continue
        if state.status is TxnStatus.SUCCESS:
            await _record_paid(db, provider, order.id, state)
            report.paid += 1
        elif state.status in (TxnStatus.PENDING,):
            # Still open at the provider after our expiry: close it so it can no longer be paid.
            try:
                await provider.close_order(order.out_trade_no, order.provider_ref)
            except ProviderError as exc:
                report.errors.append(f"{order.out_trade_no}: close {exc.code}")
                report.still_pending += 1
                continue
            await _set_status(db, order.id, "closed")
            report.closed += 1
        else:
            await _set_status(db, order.id, "closed" if state.status is not TxnStatus.FAILED else "failed")
            report.closed += 1
    return report


async def _set_status(db: Database, order_id: str, status: str) -> None:
    async with db.transaction() as session:
        order = await session.get_one(Order, order_id, with_for_update=True)
        if order.status == "pending":
            order.status = status
            audit.record(
                session,
                actor="job:pending_orders",
                action=f"order.{status}",
                entity_type="order",
                entity_id=order.id,
                client_id=order.client_id,
                before={"status": "pending"},
                after={"status": status},
            )


async def _record_paid(db: Database, provider: Provider, order_id: str, state: OrderState) -> None:
    async with db.transaction() as session:
        order = await session.get_one(Order, order_id, with_for_update=True)
        await record_order_payment(
            session,
            order=order,
            provider=provider.name,
            provider_txn_id=state.provider_txn_id,
            amount=state.amount or Money(order.amount_fen, order.currency),
            received_at=state.paid_at,
            source="query",
        )
    log.info("order %s found paid by query", order_id)
