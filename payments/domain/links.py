"""Repayment links: what a borrower may pay through one, and the link's status machine."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from payments.domain.errors import FieldError, IllegalTransition

DEFAULT_EXPIRY = timedelta(days=7)
MAX_EXPIRY = timedelta(days=180)


class PolicyKind(enum.StrEnum):
    FULL_BALANCE = "full_balance"  # the case's whole balance at the moment of paying
    FIXED = "fixed"  # exactly this amount (capped at the balance)
    RANGE = "range"  # the borrower chooses, between a minimum and the balance
    INSTALMENTS = "instalments"  # n fixed amounts with due dates, paid in order
    SETTLEMENT = "settlement"  # pay X by date D and the whole case is settled


class LinkStatus(enum.StrEnum):
    CREATED = "created"  # waiting for approval (settlement offers)
    ACTIVE = "active"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    EXPIRED = "expired"
    REVOKED = "revoked"


S = LinkStatus
LINK_TRANSITIONS: dict[LinkStatus, frozenset[LinkStatus]] = {
    S.CREATED: frozenset({S.ACTIVE, S.EXPIRED, S.REVOKED}),
    S.ACTIVE: frozenset({S.PARTIALLY_PAID, S.PAID, S.EXPIRED, S.REVOKED}),
    S.PARTIALLY_PAID: frozenset({S.PARTIALLY_PAID, S.PAID, S.EXPIRED, S.REVOKED}),
    S.PAID: frozenset(),
    S.EXPIRED: frozenset(),
    S.REVOKED: frozenset(),
}
PAYABLE = frozenset({S.ACTIVE, S.PARTIALLY_PAID})


def link_transition(current: LinkStatus, target: LinkStatus) -> LinkStatus:
    if target not in LINK_TRANSITIONS[current]:
        raise IllegalTransition(f"a link that is {current} cannot become {target}")
    return target


@dataclass(frozen=True, slots=True)
class Instalment:
    amount_fen: int
    due_date: date


@dataclass(frozen=True, slots=True)
class AmountPolicy:
    kind: PolicyKind
    amount_fen: int = 0  # FIXED amount, SETTLEMENT offer
    min_fen: int = 0  # RANGE minimum
    settle_by: date | None = None  # SETTLEMENT deadline
    instalments: tuple[Instalment, ...] = ()

    def __post_init__(self) -> None:
        if self.kind in (PolicyKind.FIXED, PolicyKind.SETTLEMENT) and self.amount_fen <= 0:
            raise FieldError("amount_policy.amount", "is required and must be positive")
        if self.kind is PolicyKind.RANGE and self.min_fen <= 0:
            raise FieldError("amount_policy.min_amount", "is required and must be positive")
        if self.kind is PolicyKind.SETTLEMENT and self.settle_by is None:
            raise FieldError("amount_policy.settle_by", "is required for a settlement offer")
        if self.kind is PolicyKind.INSTALMENTS:
            if not 1 <= len(self.instalments) <= 60:
                raise FieldError("amount_policy.instalments", "must list 1 to 60 instalments")
            dates = [i.due_date for i in self.instalments]
            if dates != sorted(dates) or len(set(dates)) != len(dates):
                raise FieldError("amount_policy.instalments", "due dates must be strictly increasing")

    @property
    def needs_approval(self) -> bool:
        return self.kind is PolicyKind.SETTLEMENT


@dataclass(frozen=True, slots=True)
class AmountChoice:
    """What the pay page offers: a fixed amount, or a range the borrower picks from."""

    min_fen: int
    max_fen: int
    suggested_fen: int

    @property
    def fixed(self) -> bool:
        return self.min_fen == self.max_fen


def payable_range(policy: AmountPolicy, balance_fen: int, paid_through_link_fen: int) -> AmountChoice | None:
    """The amounts allowed now, or None when nothing is payable (balance zero, plan complete).

    Never above the balance; never below the policy's minimum except to pay the whole remainder.
    """
    if balance_fen <= 0:
        return None
    if policy.kind is PolicyKind.FULL_BALANCE:
        return AmountChoice(balance_fen, balance_fen, balance_fen)
    if policy.kind is PolicyKind.FIXED:
        amount = min(policy.amount_fen, balance_fen)
        return AmountChoice(amount, amount, amount)
    if policy.kind is PolicyKind.RANGE:
        low = min(policy.min_fen, balance_fen)
        return AmountChoice(low, balance_fen, balance_fen)
    if policy.kind is PolicyKind.SETTLEMENT:
        remaining = policy.amount_fen - paid_through_link_fen
        if remaining <= 0:
            return None
        amount = min(remaining, balance_fen)
        return AmountChoice(amount, amount, amount)
    # Instalments are paid in order: the next unpaid one, or what is left of it.
    cumulative = 0
    for inst in policy.instalments:
        cumulative += inst.amount_fen
        if paid_through_link_fen < cumulative:
            amount = min(cumulative - paid_through_link_fen, balance_fen)
            return AmountChoice(amount, amount, amount)
    return None


def check_against_balance(policy: AmountPolicy, balance_fen: int) -> None:
    """An offer must be a discount, and a plan must not add up to more than the case owes. (A fixed
    amount or range minimum above the balance is allowed: the page then asks for the balance.)

    An instalment plan may cover less than the balance (a first plan, say) but never more.
    """
    if balance_fen <= 0:
        raise FieldError("amount_policy", "the case owes nothing")
    owed = f"the case owes {balance_fen} fen"
    if policy.kind is PolicyKind.SETTLEMENT and policy.amount_fen >= balance_fen:
        raise FieldError(
            "amount_policy.amount",
            f"a settlement offer must be below the balance ({owed}); for the whole balance use full_balance",
        )
    if policy.kind is PolicyKind.INSTALMENTS and sum(i.amount_fen for i in policy.instalments) > balance_fen:
        raise FieldError("amount_policy.instalments", f"add up to more than the balance ({owed})")


def check_amount(choice: AmountChoice, amount_fen: int, field: str = "amount") -> int:
    if not choice.min_fen <= amount_fen <= choice.max_fen:
        raise FieldError(field, f"must be between {choice.min_fen} and {choice.max_fen} fen")
    return amount_fen


def expiry_for(created_at: datetime, requested: datetime | None) -> datetime:
    if requested is None:
        return created_at + DEFAULT_EXPIRY
    if requested.tzinfo is None:
        raise FieldError("expires_at", "must include a time zone offset")
    if requested <= created_at:
        raise FieldError("expires_at", "must be in the future")
    if requested - created_at > MAX_EXPIRY:
        raise FieldError("expires_at", "must be at most 180 days ahead")
    return requested
