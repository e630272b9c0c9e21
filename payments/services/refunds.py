"""Refunds: asking the provider to give money back, and taking a refunded amount back from the cases.

A refund first takes back the payment's credit (money the cases did not owe), then its allocations in
reverse order (the last component paid is the first reopened), each as a negative allocation row so
the ledger keeps every step. A case the payment had closed reopens; a settlement the refund undoes gets
its waived amount back. This runs once per refund, when the refund is known to have succeeded (from
the provider's answer, its notification, or its statement), in the transaction that learns it.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain.cases import CLOSED, CaseEvent, CaseStatus, status_for_balance, transition
from payments.domain.errors import Conflict, FieldError, NotFound
from payments.domain.money import Money
from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Adjustment, AllocationRow, Case, Debt, Order, Payment, Refund
from payments.services import audit
from payments.services.outbox import emit
from providers.base import ProviderError, RefundRequest, RefundStatus

if TYPE_CHECKING:  # the container wires this module in; importing it here would be a cycle
    from payments.services.container import Services

log = logging.getLogger("payrecon.refunds")

BANK_TRANSFER = "bank_transfer"  # paid back by hand from the collection account: no provider API
OPEN_REFUND_STATES = ("processing", "success")


async def refundable_fen(session: AsyncSession, payment: Payment) -> int:
    asked = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.payment_id == payment.id, Refund.status.in_(OPEN_REFUND_STATES)
        )
    )
    return payment.amount_fen - int(asked or 0)


async def start_refund(
    services: Services,
    payment_id: str,
    amount_fen: int,
    *,
    actor: str,
    reason: str,
    client_ids: list[str] | None = None,
) -> Refund:
    """Refund `amount_fen` of a payment. Through the provider's refund API for provider payments
    (idempotent by our refund number); for a bank transfer, a refund row for finance to pay by hand
    and confirm with `confirm_manual_refund`. `client_ids` limits which clients' payments the caller
    may touch (None: any)."""
    if type(amount_fen) is not int or amount_fen <= 0:
        raise FieldError("amount", "must be a positive amount")
    reason = reason.strip()[:200]
    if not reason:
        raise FieldError("reason", "say why the money goes back")
    now = utcnow()
    async with services.db.transaction() as session:
        payment = await session.get(Payment, payment_id, with_for_update=True)
        if payment is None or (client_ids is not None and payment.client_id not in client_ids):
            raise NotFound("no such payment")
        if amount_fen > await refundable_fen(session, payment):
            raise FieldError("amount", "more than what is left to refund of this payment")
        order = await session.get(Order, payment.order_id) if payment.order_id else None
        if payment.provider != BANK_TRANSFER and order is None:
            raise Conflict("this payment has no order at the provider to refund against")
        refund = Refund(
            id=new_id("rfd"),
            payment_id=payment.id,
            provider=payment.provider,
            out_trade_no=payment.out_trade_no or payment.provider_txn_id,
            refund_no="RF" + secrets.token_hex(10).upper(),
            amount_fen=amount_fen,
            status="processing",
            requested_by=actor[:80],
            reason=reason,
            created_at=now,
            updated_at=now,
        )
        session.add(refund)
        audit.record(
            session,
            actor=actor,
            action="refund.requested",
            entity_type="payment",
            entity_id=payment.id,
            client_id=payment.client_id,
            after={"refund_id": refund.id, "amount_fen": amount_fen, "reason": reason},
        )
    if payment.provider == BANK_TRANSFER:
        return refund
    # Outside the transaction: the row is committed as "processing" first, so a crash during the
    # call leaves a refund the pending-refund query can finish, never one the provider made unseen.
    assert order is not None
    provider = services.rails.providers[payment.provider]
    try:
        state = await provider.refund(
            RefundRequest(
                out_trade_no=order.out_trade_no,
                refund_no=refund.refund_no,
                amount=Money(amount_fen, payment.currency),
                order_total=Money(payment.amount_fen, payment.currency),
                reason=reason,
                provider_txn_id=payment.provider_txn_id,
                provider_ref=order.provider_ref,
            )
        )
    except ProviderError as exc:
        log.warning("refund %s of payment %s: provider refused or failed: %s", refund.id, payment.id, exc)
        async with services.db.transaction() as session:
            row = await session.get_one(Refund, refund.id, with_for_update=True)
            if row.status == "processing":
                row.status = "failed"
                row.updated_at = utcnow()
            return row
    async with services.db.transaction() as session:
        row = await session.get_one(Refund, refund.id, with_for_update=True)
        row.provider_ref = state.provider_ref or row.provider_ref
        if row.status == "processing" and state.status is not RefundStatus.PROCESSING:
            row.status = state.status.value
        row.updated_at = utcnow()
        await reverse_refund(session, row)
        return row


async def confirm_manual_refund(
    services: Services, refund_id: str, *, actor: str, client_ids: list[str] | None = None
) -> Refund:
    """Finance paid a bank-transfer refund by hand: mark it done and take it back from the cases."""
    async with services.db.transaction() as session:
        refund = await session.get(Refund, refund_id, with_for_update=True)
        payment = await session.get(Payment, refund.payment_id) if refund and refund.payment_id else None
        if (
            refund is None
            or payment is None
            or (client_ids is not None and payment.client_id not in client_ids)
        ):
            raise NotFound("no such refund")
        if refund.provider != BANK_TRANSFER:
            raise Conflict("only refunds paid by hand are confirmed by hand")
        if refund.status != "processing":
            raise Conflict(f"the refund is {refund.status}")
        refund.status = "success"
        refund.updated_at = utcnow()
        audit.record(
            session,
            actor=actor,
            action="refund.confirmed",
            entity_type="payment",
            entity_id=payment.id,
            client_id=payment.client_id,
            after={"refund_id": refund.id, "amount_fen": refund.amount_fen},
        )
        await reverse_refund(session, refund)
        return refund


async def reverse_refund(session: AsyncSession, refund: Refund) -> bool:
    """Take a succeeded refund back from the payment's cases, once. False if there was nothing to do."""
    if refund.status != "success" or refund.reversed_at is not None or refund.payment_id is None:
        return False
    now = utcnow()
    payment = await session.get_one(Payment, refund.payment_id, with_for_update=True)
    remaining = min(refund.amount_fen, payment.amount_fen)
    refund.reversed_at = now

    rows = list(
        await session.scalars(
            select(AllocationRow).where(AllocationRow.payment_id == payment.id).order_by(AllocationRow.id)
        )
    )
    # 1. The credit: money no case owed (or all of it, for a payment never applied). Over several
    # cases the surplus sits on the last case the payment reached, so credit is taken back last first.
    credit = min(remaining, payment.unapplied_fen)
    payment.unapplied_fen -= credit
    remaining -= credit
    touched: dict[str, Case] = {}
    reached = list(dict.fromkeys(row.case_id for row in rows)) or (
        [payment.case_id] if payment.case_id else []
    )
    left = credit
    for case_id in reversed(reached):
        if left == 0:
            break
        case = await session.get_one(Case, case_id, with_for_update=True)
        take = min(left, case.credit_fen)
        if take:
            case.credit_fen -= take
            left -= take
            touched[case.id] = case

    # 2. The allocations, last applied first, net of what earlier refunds already took back.
    net: dict[tuple[str, str, str], int] = defaultdict(int)
    order: list[tuple[str, str, str]] = []
    basis: dict[tuple[str, str, str], str] = {}
    for row in rows:
        key = (row.case_id, row.debt_id, row.component)
        if key not in net:
            order.append(key)
        net[key] += row.amount_fen
        basis.setdefault(key, row.basis)
    for key in reversed(order):
        if remaining == 0:
            break
        take = min(remaining, net[key])
        if take <= 0:
            continue
        case_id, debt_id, component = key
        if case_id not in touched:
            touched[case_id] = await session.get_one(Case, case_id, with_for_update=True)
        debt = await session.get_one(Debt, debt_id, with_for_update=True)
        column = f"{component}_fen"
        setattr(debt, column, getattr(debt, column) + take)
        session.add(
            AllocationRow(
                id=new_id("alc"),
                payment_id=payment.id,
                case_id=case_id,
                debt_id=debt_id,
                component=component,
                amount_fen=-take,
                basis=f"refund:{refund.id}",
                created_at=now,
            )
        )
        remaining -= take
    refunded_total = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.payment_id == payment.id, Refund.status == "success"
        )
    )
    if int(refunded_total or 0) >= payment.amount_fen:
        payment.status = "refunded"

    for case in touched.values():
        await _reopen(session, case, now)
    audit.record(
        session,
        actor="system:refunds",
        action="refund.reversed",
        entity_type="payment",
        entity_id=payment.id,
        client_id=payment.client_id,
        after={"refund_id": refund.id, "amount_fen": refund.amount_fen, "cases": sorted(touched)},
    )
    emit(
        session,
        payment.client_id,
        "payment.refunded",
        case_id=payment.case_id,
        payload={
            "payment_id": payment.id,
            "refund_id": refund.id,
            "case_id": payment.case_id,
            "amount_fen": refund.amount_fen,
            "currency": payment.currency,
            "status": refund.status,
            "refunded_at": now.isoformat(),
        },
    )
    return True


async def _reopen(session: AsyncSession, case: Case, now) -> None:  # type: ignore[no-untyped-def]
    debts = list(await session.scalars(select(Debt).where(Debt.case_id == case.id).with_for_update()))
    before = CaseStatus(case.status)
    if before is CaseStatus.SETTLED:
        # The offer is no longer met: what the settlement forgave is owed again.
        for adj in await session.scalars(
            select(Adjustment).where(
                Adjustment.debt_id.in_([d.id for d in debts]), Adjustment.reason == "settlement_discount"
            )
        ):
            debt = next(d for d in debts if d.id == adj.debt_id)
            column = f"{adj.component}_fen"
            setattr(debt, column, getattr(debt, column) - adj.amount_fen)
            session.add(
                Adjustment(
                    id=new_id("adj"),
                    debt_id=debt.id,
                    component=adj.component,
                    amount_fen=-adj.amount_fen,
                    reason="settlement_reinstated",
                    created_at=now,
                )
            )
    outstanding = sum(d.principal_fen + d.interest_fen + d.fees_fen for d in debts)
    paid = await session.scalar(
        select(func.coalesce(func.sum(AllocationRow.amount_fen), 0)).where(AllocationRow.case_id == case.id)
    )
    if outstanding > 0 and (before in CLOSED or before in (CaseStatus.OPEN, CaseStatus.PARTIALLY_PAID)):
        target = status_for_balance(outstanding, int(paid or 0))
        if target != before:
            case.status = transition(before, CaseEvent.REFUND, target).value
    case.version += 1
    case.updated_at = now
    emit(
        session,
        case.client_id,
        "case.updated",
        case_id=case.id,
        payload={
            "case_id": case.id,
            "status": case.status,
            "balance": {
                "principal_fen": sum(d.principal_fen for d in debts),
                "interest_fen": sum(d.interest_fen for d in debts),
                "fees_fen": sum(d.fees_fen for d in debts),
                "total_fen": outstanding,
            },
            "credit_fen": case.credit_fen,
        },
    )
