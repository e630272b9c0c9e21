"""Applying a payment to one case or to several cases of one debtor, and what that does to each case.

Allocation is the domain's waterfall (`payments.domain.allocation.allocate`): art. 561 within a debt,
art. 560 across debts, or the client's contract; each allocation carries its basis. Over several cases
of one debtor at one client (one creditor) the debts are pooled, so the debt that fell due first is paid
first whichever case holds it; when the cases' contracts differ, the cases are paid one after another,
oldest-due first, each by its own contract. The surplus stays on the last case as a credit for refund.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from payments.domain.allocation import Allocation, AllocationLine, allocate
from payments.domain.cases import CaseEvent, CaseStatus, DebtBalance, status_for_balance, transition
from reconciliation.decision import CaseApplication
from reconciliation.facts import CaseFacts

_SEP = "\x1f"  # joins case id and debt ref while debts of several cases are pooled; never in an id


def split(amount_fen: int, cases: Sequence[CaseFacts]) -> list[Allocation]:
    """One allocation per case, in the order given (oldest-due first); the surplus on the last one."""
    if len(cases) == 1:
        return [allocate(amount_fen, cases[0].debts, cases[0].policy)]
    if len({c.policy for c in cases}) == 1:
        pooled = [
            dataclasses.replace(d, debt_ref=f"{c.case_id}{_SEP}{d.debt_ref}") for c in cases for d in c.debts
        ]
        whole = allocate(amount_fen, pooled, cases[0].policy)
        lines: dict[str, list[AllocationLine]] = defaultdict(list)
        for line in whole.lines:
            case_id, _, ref = line.debt_ref.partition(_SEP)
            lines[case_id].append(AllocationLine(ref, line.component, line.fen))
        return [
            Allocation(tuple(lines[c.case_id]), whole.surplus_fen if i == len(cases) - 1 else 0, whole.basis)
            for i, c in enumerate(cases)
        ]
    result: list[Allocation] = []
    remaining = amount_fen
    for i, case in enumerate(cases):
        part = allocate(remaining, case.debts, case.policy)
        remaining = part.surplus_fen
        last = i == len(cases) - 1
        result.append(dataclasses.replace(part, surplus_fen=remaining if last else 0))
    return result


def reduce_debts(debts: Sequence[DebtBalance], lines: Sequence[AllocationLine]) -> tuple[DebtBalance, ...]:
    taken: dict[tuple[str, str], int] = defaultdict(int)
    for line in lines:
        taken[(line.debt_ref, line.component.value)] += line.fen
    return tuple(
        dataclasses.replace(
            d,
            fees=d.fees - taken[(d.debt_ref, "fees")],
            interest=d.interest - taken[(d.debt_ref, "interest")],
            principal=d.principal - taken[(d.debt_ref, "principal")],
        )
        for d in debts
    )


def settles(case: CaseFacts, applied_fen: int, day: date) -> bool:
    """A settlement offer is met when what was paid toward it reaches the offer on or before its date."""
    return (
        case.offer_fen > 0
        and case.settle_by is not None
        and day <= case.settle_by
        and case.offer_paid_fen + applied_fen >= case.offer_fen
    )


def apply_to_case(case: CaseFacts, allocation: Allocation, day: date) -> tuple[CaseApplication, CaseFacts]:
    """The application record and the case as it stands afterwards (for later payments of the same run)."""
    applied = allocation.applied_fen
    debts = reduce_debts(case.debts, allocation.lines)
    outstanding = sum(d.total for d in debts)
    waived = 0
    if outstanding > 0 and settles(case, applied, day) and case.status is not CaseStatus.ON_HOLD:
        status = transition(case.status, CaseEvent.SETTLEMENT, CaseStatus.SETTLED)
        waived = outstanding
    elif case.status is CaseStatus.ON_HOLD:
        # Money is applied on hold; the hold stays unless the money closes the case (see TRANSITIONS).
        target = CaseStatus.PAID if outstanding <= 0 else CaseStatus.ON_HOLD
        status = transition(case.status, CaseEvent.PAYMENT, target)
    elif applied == 0:
        status = case.status  # only a credit (nothing was owed on the debts given): no payment event
    else:
        target = status_for_balance(outstanding, case.paid_fen + applied)
        status = transition(case.status, CaseEvent.PAYMENT, target)
    after = dataclasses.replace(
        case,
        debts=debts,
        status=status,
        paid_fen=case.paid_fen + applied,
        offer_paid_fen=case.offer_paid_fen + applied if case.offer_fen else case.offer_paid_fen,
    )
    record = CaseApplication(case.case_id, allocation, case.status, status, waived)
    return record, after


def apply_payment(
    amount_fen: int, cases: Sequence[CaseFacts], day: date
) -> tuple[tuple[CaseApplication, ...], list[CaseFacts]]:
    """Split `amount_fen` over `cases` (already in oldest-due order) and apply each part."""
    records: list[CaseApplication] = []
    updated: list[CaseFacts] = []
    for case, allocation in zip(cases, split(amount_fen, cases), strict=True):
        record, after = apply_to_case(case, allocation, day)
        records.append(record)
        updated.append(after)
    return tuple(records), updated
