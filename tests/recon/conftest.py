"""Statement checks against the real sandboxes: the integration tests' fixtures and helpers, plus
what these tests need to look at the day's rows.

A sandbox's statement for today lists every order paid at it during the test session, so each test
looks only at its own orders' lines and rows, or compares whole-table counts before and after.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from payments.domain.money import Money
from payments.persistence.db import utcnow
from payments.persistence.tables import (
    AllocationRow,
    AuditEvent,
    Order,
    OutboxEvent,
    Payment,
    PaymentException,
    Refund,
    StatementLineRow,
)
from payments.services.container import Services
from payments.services.recording import record_order_payment
from providers.base import BEIJING
from tests.integration.conftest import (  # noqa: F401  (fixtures, re-exported for this package)
    _no_stray_deliveries,
    hold,
    notify_client_factory,
)

COUNTED = (StatementLineRow, Payment, PaymentException, AllocationRow, Refund, OutboxEvent, AuditEvent, Order)


def today() -> date:
    return datetime.now(BEIJING).date()


async def row_counts(services: Services) -> dict[str, int]:
    """How many rows each table a statement check may write holds."""
    async with services.db.sessions() as session:
        return {
            model.__tablename__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in COUNTED
        }


async def order_state(services: Services, out_trade_no: str) -> tuple[str | None, str | None]:
    async with services.db.sessions() as session:
        row = (
            await session.execute(
                select(Order.status, Order.provider_txn_id).where(Order.out_trade_no == out_trade_no)
            )
        ).one()
        return row[0], row[1]


async def record_directly(
    services: Services,
    rail: str,
    out_trade_no: str,
    *,
    provider_txn_id: str,
    amount_fen: int,
    source: str,
    received_at: datetime | None = None,
) -> str:
    """Record a payment the way the notification (or query) path does, without the provider.

    With a transaction id the sandbox never issued, this is money we believe notified that the
    provider's statement will not list (what a notification replayed from another environment, or a
    provider-side reversal, would leave).
    """
    async with services.db.transaction() as session:
        order = await session.scalar(select(Order).where(Order.out_trade_no == out_trade_no))
        assert order is not None
        payment_id = await record_order_payment(
            session,
            order=order,
            provider=rail,
            provider_txn_id=provider_txn_id,
            amount=Money(amount_fen),
            received_at=received_at or utcnow(),
            source=source,
        )
    assert payment_id is not None
    await services.applier.sweep()
    return payment_id


def lines_for(report: dict[str, Any], out_trade_no: str) -> list[dict[str, Any]]:
    return [ln for ln in report["per_line"] if ln["out_trade_no"] == out_trade_no]


async def stored_lines(services: Services, rail: str, out_trade_no: str) -> list[StatementLineRow]:
    async with services.db.sessions() as session:
        rows = await session.scalars(
            select(StatementLineRow).where(
                StatementLineRow.provider == rail, StatementLineRow.out_trade_no == out_trade_no
            )
        )
        return list(rows)
