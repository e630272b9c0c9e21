"""A provider refund of a payment we applied: what to take back from which case, and the case's new status.

The refund first takes back the surplus credit (money the cases did not owe), then the allocations in
reverse order (the last line applied is the first reversed), last case first. A case the payment had
closed reopens; a settlement the refund undoes puts the waived amount back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from payments.domain.allocation import AllocationLine
from payments.domain.cases import CaseEvent, CaseStatus, transition
from reconciliation.decision import CaseApplication
from reconciliation.facts import CaseFacts


@dataclass(frozen=True, slots=True)
class Reversal:
    case_id: str
    lines: tuple[AllocationLine, ...]  # each amount goes back onto that debt component
    credit_fen: int  # surplus credit taken back; no debt changes
    reinstated_fen: int  # a settlement waiver undone
    status_before: CaseStatus
    status_after: CaseStatus

    @property
    def reversed_fen(self) -> int:
        return sum(line.fen for line in self.lines)

    @property
    def total_fen(self) -> int:
        return self.reversed_fen + self.credit_fen


def reverse(
    refund_fen: int, applications: Sequence[CaseApplication], cases: Mapping[str, CaseFacts]
) -> tuple[Reversal, ...]:
    """`applications` as the engine decided them; `cases` as they stand now (after the payment)."""
    if type(refund_fen) is not int or refund_fen <= 0:
        raise ValueError("refund_fen must be a positive int")
    if refund_fen > sum(a.total_fen for a in applications):
        raise ValueError("a refund cannot exceed the payment's applied amount and credit")
    remaining = refund_fen
    result: list[Reversal] = []
    for app in reversed(applications):
        if remaining == 0:
            break
        credit = min(remaining, app.allocation.surplus_fen)
        remaining -= credit
        lines: list[AllocationLine] = []
        for line in reversed(app.allocation.lines):
            take = min(remaining, line.fen)
            if take == 0:
                break
            lines.append(AllocationLine(line.debt_ref, line.component, take))
            remaining -= take
        result.append(_reversal(app, cases[app.case_id], tuple(lines), credit))
    return tuple(result)


def _reversal(
    app: CaseApplication, case: CaseFacts, lines: tuple[AllocationLine, ...], credit: int
) -> Reversal:
    back = sum(line.fen for line in lines)
    reinstated = app.waived_fen if back and case.status is CaseStatus.SETTLED else 0
    if back == 0:
        status = case.status  # only the credit went back: the debts are as they were
    elif case.status is CaseStatus.ON_HOLD:
        status = transition(case.status, CaseEvent.REFUND, CaseStatus.ON_HOLD)
    else:
        paid_after = case.paid_fen - back
        target = CaseStatus.PARTIALLY_PAID if paid_after > 0 else CaseStatus.OPEN
        status = transition(case.status, CaseEvent.REFUND, target)
    return Reversal(app.case_id, lines, credit, reinstated, case.status, status)
