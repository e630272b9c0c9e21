"""Cases and debts, and the case status machine as an explicit transition table."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from payments.domain.errors import IllegalTransition


class Component(enum.StrEnum):
    FEES = "fees"  # costs of collection (实现债权的有关费用)
    INTEREST = "interest"
    PRINCIPAL = "principal"


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    SETTLED = "settled"
    WRITTEN_OFF = "written_off"
    CANCELLED = "cancelled"
    ON_HOLD = "on_hold"


CLOSED = frozenset({CaseStatus.PAID, CaseStatus.SETTLED, CaseStatus.WRITTEN_OFF, CaseStatus.CANCELLED})


class CaseEvent(enum.StrEnum):
    PAYMENT = "payment"  # money applied
    REFUND = "refund"  # money given back: the only way out of a closed state
    SETTLEMENT = "settlement"  # a settlement offer was met by its date
    HOLD = "hold"
    RELEASE = "release"
    CANCEL = "cancel"
    WRITE_OFF = "write_off"
    AMEND = "amend"  # the case system changed the debts


S, E = CaseStatus, CaseEvent
_ACTIVE = (S.OPEN, S.PARTIALLY_PAID)

# (from, event) -> the states that event may lead to. Anything not listed is illegal.
TRANSITIONS: dict[tuple[CaseStatus, CaseEvent], frozenset[CaseStatus]] = {
    **{(s, E.PAYMENT): frozenset({S.PARTIALLY_PAID, S.PAID}) for s in _ACTIVE},
    **{(s, E.SETTLEMENT): frozenset({S.SETTLED}) for s in _ACTIVE},
    **{(s, E.AMEND): frozenset({S.OPEN, S.PARTIALLY_PAID, S.PAID}) for s in (*_ACTIVE, S.ON_HOLD)},
    **{(s, E.HOLD): frozenset({S.ON_HOLD}) for s in _ACTIVE},
    **{(s, E.CANCEL): frozenset({S.CANCELLED}) for s in (*_ACTIVE, S.ON_HOLD)},
    **{(s, E.WRITE_OFF): frozenset({S.WRITTEN_OFF}) for s in (*_ACTIVE, S.ON_HOLD)},
    # Money that arrives while a case is on hold is still applied; the hold stays unless it closes the case.
    (S.ON_HOLD, E.PAYMENT): frozenset({S.ON_HOLD, S.PAID}),
    (S.ON_HOLD, E.RELEASE): frozenset({S.OPEN, S.PARTIALLY_PAID}),
    **{(s, E.REFUND): frozenset({S.OPEN, S.PARTIALLY_PAID}) for s in (*_ACTIVE, *CLOSED)},
    (S.ON_HOLD, E.REFUND): frozenset({S.ON_HOLD}),
}


def transition(current: CaseStatus, event: CaseEvent, target: CaseStatus) -> CaseStatus:
    """Return `target` if the table allows it, else raise IllegalTransition."""
    if target not in TRANSITIONS.get((current, event), frozenset()):
        raise IllegalTransition(f"a case that is {current} cannot become {target} by {event}")
    return target


def status_for_balance(outstanding_fen: int, paid_fen: int) -> CaseStatus:
    """The status money alone implies for an active case."""
    if outstanding_fen <= 0:
        return CaseStatus.PAID
    return CaseStatus.PARTIALLY_PAID if paid_fen > 0 else CaseStatus.OPEN


@dataclass(frozen=True, slots=True)
class DebtBalance:
    """What is still owed on one debt, by component, in fen."""

    debt_ref: str
    due_date: date
    fees: int = 0
    interest: int = 0
    principal: int = 0

    def outstanding(self, component: Component) -> int:
        return int(getattr(self, component.value))

    @property
    def total(self) -> int:
        return self.fees + self.interest + self.principal
