"""The ledger invariant, checked by the database over every row:

- per payment: its allocations + what is still unapplied (credit or unmatched) + what refunds took
  back = its amount;
- per debt and component: the original amount − allocations + adjustments = what is still owed, and
  nothing is owed below zero;
- per case: the credit is never negative.

A violation is a bug, never a business event: it is logged as an error and kept as a
`ledger_invariant` exception (once per row while it lasts) for finance and engineering to look at.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import (
    Adjustment,
    AllocationRow,
    Case,
    Debt,
    Payment,
    PaymentException,
    Refund,
)
from payments.services.container import Services
from payments.services.outbox import emit

log = logging.getLogger("payrecon.ledger")
KIND = "ledger_invariant"
COMPONENTS = ("fees", "interest", "principal")


@dataclass(frozen=True, slots=True)
class Violation:
    entity: str  # payment | debt | case
    entity_id: str
    client_id: str
    detail: dict[str, int | str]


@dataclass
class LedgerReport:
    payments: int = 0
    debts: int = 0
    cases: int = 0
    violations: list[Violation] = field(default_factory=list)
    new_exceptions: int = 0


async def find_violations(session: AsyncSession) -> LedgerReport:
    report = LedgerReport()
    alloc = (
        select(AllocationRow.payment_id.label("pid"), func.sum(AllocationRow.amount_fen).label("fen"))
        .group_by(AllocationRow.payment_id)
        .subquery()
    )
    refunded = (
        select(Refund.payment_id.label("pid"), func.sum(Refund.amount_fen).label("fen"))
        .where(Refund.reversed_at.is_not(None))
        .group_by(Refund.payment_id)
        .subquery()
    )
    allocated = func.coalesce(alloc.c.fen, 0)
    back = func.coalesce(refunded.c.fen, 0)
    q = (
        select(Payment.id, Payment.client_id, Payment.amount_fen, Payment.unapplied_fen, allocated, back)
        .outerjoin(alloc, alloc.c.pid == Payment.id)
        .outerjoin(refunded, refunded.c.pid == Payment.id)
        .where(
            or_(
                allocated + Payment.unapplied_fen + back != Payment.amount_fen,
                Payment.unapplied_fen < 0,
                allocated < 0,
            )
        )
    )
    for pid, client, amount, unapplied, alloc_fen, back_fen in await session.execute(q):
        report.violations.append(
            Violation(
                "payment",
                pid,
                client,
                {
                    "amount_fen": amount,
                    "allocated_fen": int(alloc_fen),
                    "unapplied_fen": unapplied,
                    "refunded_fen": int(back_fen),
                },
            )
        )
    report.payments = int(await session.scalar(select(func.count()).select_from(Payment)) or 0)

    for comp in COMPONENTS:
        a = (
            select(AllocationRow.debt_id.label("did"), func.sum(AllocationRow.amount_fen).label("fen"))
            .where(AllocationRow.component == comp)
            .group_by(AllocationRow.debt_id)
            .subquery()
        )
        j = (
            select(Adjustment.debt_id.label("did"), func.sum(Adjustment.amount_fen).label("fen"))
            .where(Adjustment.component == comp)
            .group_by(Adjustment.debt_id)
            .subquery()
        )
        original = getattr(Debt, f"original_{comp}_fen")
        current = getattr(Debt, f"{comp}_fen")
        expected = original - func.coalesce(a.c.fen, 0) + func.coalesce(j.c.fen, 0)
        q = (
            select(Debt.id, Case.client_id, original, current, expected)
            .join(Case, Case.id == Debt.case_id)
            .outerjoin(a, a.c.did == Debt.id)
            .outerjoin(j, j.c.did == Debt.id)
            .where(or_(expected != current, current < 0))
        )
        for did, client, orig, cur, exp in await session.execute(q):
            report.violations.append(
                Violation(
                    "debt",
                    did,
                    client,
                    {"component": comp, "original_fen": orig, "owed_fen": cur, "expected_fen": int(exp)},
                )
            )
    report.debts = int(await session.scalar(select(func.count()).select_from(Debt)) or 0)

    for cid, client, credit in await session.execute(
        select(Case.id, Case.client_id, Case.credit_fen).where(Case.credit_fen < 0)
    ):
        report.violations.append(Violation("case", cid, client, {"credit_fen": credit}))
    report.cases = int(await session.scalar(select(func.count()).select_from(Case)) or 0)
    return report


async def check_ledger(services: Services) -> LedgerReport:
    async with services.db.transaction() as session:
        report = await find_violations(session)
        now = utcnow()
        for v in report.violations:
            log.error("ledger invariant broken: %s %s %s", v.entity, v.entity_id, v.detail)
            known = await session.scalar(
                select(PaymentException.id).where(
                    PaymentException.kind == KIND,
                    PaymentException.resolved_at.is_(None),
                    PaymentException.details["entity_id"].as_string() == literal(v.entity_id),
                )
            )
            if known:
                continue
            exception_id = new_id("exc")
            session.add(
                PaymentException(
                    id=exception_id,
                    client_id=v.client_id,
                    kind=KIND,
                    provider="",
                    out_trade_no=None,
                    payment_id=v.entity_id if v.entity == "payment" else None,
                    details={"entity": v.entity, "entity_id": v.entity_id, **v.detail},
                    created_at=now,
                    resolved_at=None,
                )
            )
            emit(
                session,
                v.client_id,
                "reconciliation.exception",
                case_id=None,
                payload={
                    "exception_id": exception_id,
                    "kind": KIND,
                    "provider": "",
                    "payment_id": v.entity_id if v.entity == "payment" else None,
                    "out_trade_no": None,
                    "amount_fen": None,
                    "created_at": now.isoformat(),
                },
            )
            report.new_exceptions += 1
    return report
