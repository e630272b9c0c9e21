"""Applying an amount of money to the debts of a case.

Default order (PRC Civil Code): art. 560, across debts, the one that fell due first; art. 561, within a
debt, costs of collection, then interest, then principal. A client contract may set another component
order or allocate component-first across all debts; the basis is recorded on every allocation.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from payments.domain.cases import Component, DebtBalance
from payments.domain.errors import FieldError


class Across(enum.StrEnum):
    DEBT_FIRST = "debt_first"  # finish the earliest-due debt, all components, before the next (art. 560)
    COMPONENT_FIRST = "component_first"  # fees of every debt, then interest of every debt, ...


@dataclass(frozen=True, slots=True)
class AllocationPolicy:
    order: tuple[Component, ...] = (Component.FEES, Component.INTEREST, Component.PRINCIPAL)
    across: Across = Across.DEBT_FIRST
    basis: str = "civil_code_art_560_561"

    def __post_init__(self) -> None:
        # Coerce strings (a contract read from JSON) to the enums: `allocate` tests `across` by identity,
        # so a plain "debt_first" would otherwise be allocated component-first without a word.
        try:
            order = tuple(Component(c) for c in self.order)
        except (TypeError, ValueError):
            order = ()
        if sorted(order) != sorted(Component):
            raise FieldError("allocation.order", "must name fees, interest and principal once each")
        try:
            across = Across(self.across)
        except (TypeError, ValueError):
            raise FieldError("allocation.across", "must be debt_first or component_first") from None
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "across", across)


CIVIL_CODE = AllocationPolicy()


@dataclass(frozen=True, slots=True)
class AllocationLine:
    debt_ref: str
    component: Component
    fen: int


@dataclass(frozen=True, slots=True)
class Allocation:
    lines: tuple[AllocationLine, ...]
    surplus_fen: int  # what the case did not owe: a credit, flagged for refund
    basis: str

    @property
    def applied_fen(self) -> int:
        return sum(line.fen for line in self.lines)


def allocate(
    amount_fen: int, debts: Sequence[DebtBalance], policy: AllocationPolicy = CIVIL_CODE
) -> Allocation:
    """Split `amount_fen` over `debts`; never takes a component below zero."""
    if type(amount_fen) is not int or amount_fen < 0:
        raise ValueError("amount_fen must be a non-negative int")
    # Ties on due date fall back to the debt reference so the result never depends on input order.
    ordered = sorted(debts, key=lambda d: (d.due_date, d.debt_ref))
    if policy.across is Across.DEBT_FIRST:
        slots = [(d, c) for d in ordered for c in policy.order]
    else:
        slots = [(d, c) for c in policy.order for d in ordered]
    remaining = amount_fen
    lines: list[AllocationLine] = []
    for debt, component in slots:
        if remaining == 0:
            break
        take = min(remaining, debt.outstanding(component))
        if take > 0:
            lines.append(AllocationLine(debt.debt_ref, component, take))
            remaining -= take
    return Allocation(tuple(lines), remaining, policy.basis)
