"""What the engine is given: payments and cases as plain, frozen facts.

The caller (the reconciliation job) reads these from the database, decrypts the debtor name in memory,
and hands them over; the engine never sees a connection. Names and identity digits are plain here, so
each `__repr__` masks them: a traceback or a debug print must not leak them into a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from payments.domain.allocation import CIVIL_CODE, AllocationPolicy
from payments.domain.cases import CLOSED, CaseStatus, DebtBalance
from payments.domain.identity import mask_name
from payments.domain.links import Instalment

# China has kept one offset without daylight saving since 1991; a fixed offset needs no tz database.
CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")
ACTIVE = frozenset({CaseStatus.OPEN, CaseStatus.PARTIALLY_PAID, CaseStatus.ON_HOLD})


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    """Money received: a provider payment (with our reference) or a line of the collection account."""

    payment_id: str
    amount_fen: int
    received_at: datetime  # timezone-aware
    memo: str = ""
    payer_name: str = ""
    payer_account: str | None = None  # the bank account or provider user the money came from
    our_reference: str | None = None  # a case id or link id we issued (the order's link), if any
    statement_line_id: str | None = None  # the statement line this payment was created from or matched to
    client_id: str | None = None  # when given, only cases of this client are candidates
    rail: str = ""  # alipay, wechatpay, bankcard, bank_transfer: for reports only

    def __post_init__(self) -> None:
        if type(self.amount_fen) is not int or self.amount_fen <= 0:
            raise ValueError("PaymentFacts.amount_fen must be a positive int")
        if self.received_at.tzinfo is None:
            raise ValueError("PaymentFacts.received_at must be timezone-aware")

    @property
    def day(self) -> date:
        """The business day in China, which is what statements and due dates are written in."""
        return self.received_at.astimezone(CHINA).date()

    def __repr__(self) -> str:
        return (
            f"PaymentFacts(payment_id={self.payment_id!r}, amount_fen={self.amount_fen}, "
            f"payer_name={mask_name(self.payer_name)!r}, our_reference={self.our_reference!r})"
        )


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """A case as the engine needs it. `debts` hold what is still owed; `balance_fen` is their sum."""

    case_id: str
    debtor_id: str
    debtor_name: str  # plain, decrypted in memory by the caller
    debts: tuple[DebtBalance, ...]
    status: CaseStatus = CaseStatus.OPEN
    client_id: str = ""
    case_number: str = ""  # the case system's external_ref, as debtors write it in memos
    contract_number: str = ""
    id_last4: str = ""  # last four characters of the ID number (a full number is cut to four)
    phone_last4: str = ""
    link_ids: tuple[str, ...] = ()
    instalments: tuple[Instalment, ...] = ()
    offer_fen: int = 0  # settlement offer: pay this much in total by settle_by and the case is settled
    settle_by: date | None = None
    offer_paid_fen: int = 0  # paid toward the offer so far
    paid_fen: int = 0  # paid on the case so far (decides open vs partially_paid)
    promised_dates: tuple[date, ...] = ()  # promises to pay noted by collectors
    payer_accounts: tuple[str, ...] = ()  # accounts that paid this case before (a guarantor, a spouse)
    policy: AllocationPolicy = field(default=CIVIL_CODE)
    # Derived from `debts` once (and again by dataclasses.replace): every rule and key reads it.
    balance_fen: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "balance_fen", sum(d.fees + d.interest + d.principal for d in self.debts))
        if len(self.id_last4) > 4:
            object.__setattr__(self, "id_last4", self.id_last4[-4:].upper())
        if len(self.phone_last4) > 4:
            object.__setattr__(self, "phone_last4", self.phone_last4[-4:])

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def closed(self) -> bool:
        return self.status in CLOSED

    @property
    def oldest_due(self) -> date:
        return min((d.due_date for d in self.debts), default=date.max)

    @property
    def group_key(self) -> tuple[str, str]:
        """Cases one payment may be split over: one debtor at one client (one creditor, art. 560)."""
        return (self.client_id, self.debtor_id)

    def __repr__(self) -> str:
        return (
            f"CaseFacts(case_id={self.case_id!r}, debtor_id={self.debtor_id!r}, "
            f"debtor_name={mask_name(self.debtor_name)!r}, status={self.status.value!r}, "
            f"balance_fen={self.balance_fen})"
        )
