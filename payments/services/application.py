"""Applying a payment to a case: allocation rows, debt balances, the case's status, the link, events.

This is the reference match: a payment for an order we created from a case's link goes to that case.
Payments without a reference go through the rules engine first and then come here with the case chosen.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain.allocation import CIVIL_CODE, Across, AllocationPolicy, allocate
from payments.domain.cases import (
    CLOSED,
    CaseEvent,
    CaseStatus,
    Component,
    DebtBalance,
    status_for_balance,
    transition,
)
from payments.domain.links import LinkStatus, PolicyKind, link_transition, payable_range
from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Adjustment, AllocationRow, Case, Client, Debt, Link, Payment
from payments.services import audit
from payments.services.links import policy_from_json
from payments.services.outbox import emit

BEIJING = timezone(timedelta(hours=8))


def client_policy(client: Client) -> AllocationPolicy:
    data = client.allocation_policy
    if not data:
        return CIVIL_CODE
    return AllocationPolicy(
        order=tuple(Component(c) for c in data["order"]),
        across=Across(data.get("across", "debt_first")),
        basis=str(data.get("basis", "client_contract")),
    )


async def apply_payment(
    session: AsyncSession,
    payment: Payment,
    case_id: str,
    link_id: str | None,
    *,
    amount_fen: int | None = None,
    actor: str = "system:application",
    locked: tuple[Case, Client, list[Debt]] | None = None,
    locked_link: Link | None = None,
) -> None:
    """Apply `amount_fen` of `payment` (default: all that is still unapplied) to the case; the caller
    holds the transaction and has locked the payment row. `locked` is the case, its client and its
    debts when the caller has already loaded and locked them (batch writers), saving three queries.

    One payment over several cases is several calls, one per case with its share. Whatever the case
    does not owe becomes its credit and stays in the payment's `unapplied_fen` (flagged for refund), so
    for every payment: sum(allocations) + unapplied_fen = amount_fen (less any refund reversed).
    """
    share = payment.unapplied_fen if amount_fen is None else amount_fen
    if share <= 0 or share > payment.unapplied_fen:
        raise ValueError("the share to apply must be positive and at most what is unapplied")
    now = utcnow()
    if locked is not None:
        # The caller locked a batch of cases and their debts up front (debts in due-date order).
        case, client, debts = locked
    else:
        case = await session.get_one(Case, case_id, with_for_update=True)
        client = await session.get_one(Client, case.client_id)
        debts = list(
            (
                await session.execute(
                    select(Debt)
                    .where(Debt.case_id == case_id)
                    .order_by(Debt.due_date, Debt.debt_ref)
                    .with_for_update()
                )
            ).scalars()
        )
    by_ref = {d.debt_ref: d for d in debts}
    policy = client_policy(client)
    result = allocate(
        share,
        [DebtBalance(d.debt_ref, d.due_date, d.fees_fen, d.interest_fen, d.principal_fen) for d in debts],
        policy,
    )
    for line in result.lines:
        debt = by_ref[line.debt_ref]
        column = f"{line.component.value}_fen"
        setattr(debt, column, getattr(debt, column) - line.fen)
        session.add(
            AllocationRow(
                id=new_id("alc"),
                payment_id=payment.id,
                case_id=case_id,
                debt_id=debt.id,
                component=line.component.value,
                amount_fen=line.fen,
                basis=result.basis,
                created_at=now,
            )
        )
    payment.unapplied_fen -= result.applied_fen
    payment.case_id = payment.case_id or case_id
    payment.status = "matched"
    case.credit_fen += result.surplus_fen

    if locked_link is not None and locked_link.id == link_id:
        link: Link | None = locked_link
    else:
        link = await session.get(Link, link_id, with_for_update=True) if link_id else None
    if link is not None:
        link.paid_fen += share
        link.payments_count += 1
        link.updated_at = now
    before = case.status
    outstanding = sum(d.principal_fen + d.interest_fen + d.fees_fen for d in debts)
    settled = link is not None and _settlement_reached(link, payment.received_at)
    if settled and outstanding > 0:
        forgive_rest(session, debts, now, "settlement_discount")
        outstanding = 0
    target = _case_target(CaseStatus(case.status), outstanding, settled)
    if target != CaseStatus(case.status):
        event = CaseEvent.SETTLEMENT if target is CaseStatus.SETTLED else CaseEvent.PAYMENT
        case.status = transition(CaseStatus(case.status), event, target).value
    case.version += 1
    case.updated_at = now
    if link is not None:
        _advance_link(link, outstanding)

    audit.record(
        session,
        actor=actor,
        action="payment.applied",
        entity_type="payment",
        entity_id=payment.id,
        client_id=case.client_id,
        after={
            "case_id": case_id,
            "lines": [(ln.debt_ref, ln.component.value, ln.fen) for ln in result.lines],
            "surplus_fen": result.surplus_fen,
            "basis": result.basis,
            "case_status": case.status,
        },
        before={"case_status": before},
    )
    emit(
        session,
        case.client_id,
        "payment.matched",
        case_id=case_id,
        payload={
            "payment_id": payment.id,
            "case_id": case_id,
            "amount_fen": share,
            "applied_fen": result.applied_fen,
            "surplus_fen": result.surplus_fen,
            "basis": result.basis,
            "allocations": [
                {"debt_id": ln.debt_ref, "component": ln.component.value, "amount_fen": ln.fen}
                for ln in result.lines
            ],
        },
    )
    emit(
        session,
        case.client_id,
        "case.updated",
        case_id=case_id,
        payload={
            "case_id": case_id,
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
    if CaseStatus(case.status) in CLOSED and before != case.status:
        emit(
            session,
            case.client_id,
            "case.closed",
            case_id=case_id,
            payload={"case_id": case_id, "status": case.status},
        )


def _case_target(current: CaseStatus, outstanding: int, settled: bool) -> CaseStatus:
    if settled:
        return CaseStatus.SETTLED
    if current is CaseStatus.ON_HOLD:
        return CaseStatus.PAID if outstanding <= 0 else CaseStatus.ON_HOLD
    if current in CLOSED:
        return current  # money on a closed case only adds to its credit
    return status_for_balance(outstanding, 1)


def _settlement_reached(link: Link, paid_at: datetime) -> bool:
    policy = link.policy
    if policy.get("kind") != PolicyKind.SETTLEMENT.value:
        return False
    by = date.fromisoformat(str(policy["settle_by"]))
    return link.paid_fen >= int(policy["amount_fen"]) and paid_at.astimezone(BEIJING).date() <= by


def forgive_rest(session: AsyncSession, debts: list[Debt], now: datetime, reason: str) -> None:
    """Forgive everything still owed on `debts` (a met settlement offer, a small write-off): the
    balances go to zero and adjustment rows keep the ledger whole."""
    for debt in debts:
        for comp in Component:
            column = f"{comp.value}_fen"
            rest = getattr(debt, column)
            if rest:
                session.add(
                    Adjustment(
                        id=new_id("adj"),
                        debt_id=debt.id,
                        component=comp.value,
                        amount_fen=-rest,
                        reason=reason,
                        created_at=now,
                    )
                )
                setattr(debt, column, 0)


def _advance_link(link: Link, outstanding: int) -> None:
    status = LinkStatus(link.status)
    if status not in (LinkStatus.ACTIVE, LinkStatus.PARTIALLY_PAID):
        return  # money through an expired or revoked link is still money; the link stays as it is
    remaining = payable_range(policy_from_json(link.policy), outstanding, link.paid_fen)
    capped = link.max_payments is not None and link.payments_count >= link.max_payments
    target = LinkStatus.PAID if remaining is None or capped else LinkStatus.PARTIALLY_PAID
    link.status = link_transition(status, target).value
