"""A seeded, realistic month of collection payments, with the true answer kept beside it.

`generate_month(seed)` makes debtors (fake people), cases with several debts, links, payments through
each rail (referenced: full, partial, instalment, settlement offer, overpaid, paid twice, notification
delivered twice, notification missing so only the statement has it, refunded, paid through a link of
the debtor's closed case) and unreferenced transfers to the collection account (the debtor under a name
variant, a guarantor or a company quoting the case, typos in the memo, wrong amounts, strangers), plus
the statement lines that go with them. `truth[payment_id]` says where each payment's money belongs.

Same seed, same month: only `random.Random(seed)` decides, and nothing iterates over a set of strings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from payments.domain.cases import CaseStatus, DebtBalance
from payments.domain.identity import mask_name
from payments.domain.links import Instalment, PolicyKind
from reconciliation import fakes
from reconciliation.facts import CHINA, CaseFacts, PaymentFacts

START = date(2025, 3, 1)
DAYS = 31
CLIENTS = ("client-a", "client-b")
RAILS = ("alipay", "wechatpay", "bankcard")

# Unreferenced transfer scenarios and their weights: mostly debtors quoting their case, some harder.
TRANSFERS = {
    "exact_ref": 12, "traditional_ref": 8, "pinyin_contract": 10, "masked_ref": 8, "fullwidth_ref": 4,
    "guarantor_ref": 8, "company_contract": 4, "offer_ref": 4, "multi_case": 5, "name_amount_id4": 6,
    "name_amount": 6, "pinyin_amount": 3, "name_only": 5, "typo_with_name": 5, "guarantor_typo": 4,
    "stranger": 10,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Debtor:
    debtor_id: str
    client_id: str
    name: str
    id_number: str
    phone: str

    def __repr__(self) -> str:
        return f"Debtor({self.debtor_id!r}, {mask_name(self.name)!r})"


@dataclass(frozen=True, slots=True)
class Link:
    link_id: str
    case_id: str
    kind: PolicyKind


@dataclass(frozen=True, slots=True)
class StatementLine:
    line_id: str
    rail: str  # alipay, wechatpay, bankcard, or bank_transfer for the collection account
    booked_at: datetime
    amount_fen: int
    our_reference: str | None
    provider_txn_id: str
    memo: str = ""
    payer_name: str = ""


@dataclass(frozen=True, slots=True)
class Refund:
    refund_id: str
    payment_id: str
    amount_fen: int
    refunded_at: datetime


@dataclass(frozen=True, slots=True)
class Truth:
    """Where a payment's money belongs: `case_ids` (several for one payment over a debtor's cases), or
    () for money that is not ours. `duplicate` marks a re-delivered event or re-imported line, which must
    not be applied. `clear` marks evidence a clerk would act on at once: the exact case or contract
    number in the memo together with the debtor's name in some form (a mask showing one character is
    not a name) or the amount owed."""

    case_ids: tuple[str, ...]
    scenario: str
    clear: bool = False
    duplicate: bool = False


@dataclass
class Month:
    start: date
    debtors: list[Debtor]
    cases: list[CaseFacts]
    links: list[Link]
    payments: list[PaymentFacts] = field(default_factory=list)
    statement: list[StatementLine] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    truth: dict[str, Truth] = field(default_factory=dict)


def _debts(rng: random.Random) -> tuple[DebtBalance, ...]:
    debts = []
    for k in range(rng.choice((1, 1, 2, 2, 3))):
        principal = rng.randint(200_000, 8_000_000)
        debts.append(
            DebtBalance(
                debt_ref=f"D{k + 1}",
                due_date=date(2023, 1, 1) + timedelta(days=rng.randint(0, 720)),
                fees=rng.choice((0, 0, rng.randint(5_000, 80_000))),
                interest=rng.randint(0, principal * 15 // 100),
                principal=principal,
            )
        )
    return tuple(debts)


def _case(rng: random.Random, debtor: Debtor, seq: int, start: date) -> CaseFacts:
    status = rng.choices(
        (CaseStatus.OPEN, CaseStatus.PARTIALLY_PAID, CaseStatus.ON_HOLD, CaseStatus.PAID), (85, 8, 3, 4)
    )[0]
    debts = _debts(rng)
    if status is CaseStatus.PAID:
        debts = tuple(DebtBalance(d.debt_ref, d.due_date) for d in debts)
    balance = sum(d.total for d in debts)
    instalments: tuple[Instalment, ...] = ()
    offer, settle_by = 0, None
    if status is CaseStatus.OPEN and rng.random() < 0.15:
        n = rng.randint(3, 6)
        each = balance // n // 100 * 100
        first = start + timedelta(days=rng.randint(0, 20))
        instalments = tuple(
            Instalment(each if i < n - 1 else balance - each * (n - 1), first + timedelta(days=30 * i))
            for i in range(n)
        )
    elif status is CaseStatus.OPEN and rng.random() < 0.12:
        offer = balance * rng.randint(50, 80) // 100 // 100 * 100
        settle_by = start + timedelta(days=rng.randint(10, 40))
    number = f"AJ-2024-{seq:06d}" if debtor.client_id == CLIENTS[0] else f"CS{seq:08d}"
    return CaseFacts(
        case_id=f"case-{seq:06d}",
        debtor_id=debtor.debtor_id,
        debtor_name=debtor.name,
        debts=debts,
        status=status,
        client_id=debtor.client_id,
        case_number=number,
        contract_number="HT" + "".join(rng.choice("0123456789") for _ in range(12)),
        id_last4=debtor.id_number[-4:],
        phone_last4=debtor.phone[-4:],
        link_ids=(f"link-{seq:06d}",),
        instalments=instalments,
        offer_fen=offer,
        settle_by=settle_by,
        paid_fen=rng.randint(10_000, 100_000) if status is CaseStatus.PARTIALLY_PAID else 0,
        payer_accounts=("6222" + f"{seq:012d}",) if rng.random() < 0.05 else (),
    )


def _link_kind(case: CaseFacts, rng: random.Random) -> PolicyKind:
    if case.instalments:
        return PolicyKind.INSTALMENTS
    if case.offer_fen:
        return PolicyKind.SETTLEMENT
    return rng.choice((PolicyKind.FULL_BALANCE, PolicyKind.RANGE))


def generate_month(
    seed: int,
    n_debtors: int = 2000,
    paid_share: float = 0.3,
    transfer_share: float = 0.35,
    start: date = START,
) -> Month:
    """`paid_share` of active cases are paid through their link; `transfer_share * n_debtors` transfers
    arrive on the collection account without our reference."""
    from reconciliation.generator_flows import Flows

    rng = random.Random(seed)
    debtors: list[Debtor] = []
    cases: list[CaseFacts] = []
    links: list[Link] = []
    seq = rng.randint(100, 900)
    for n in range(n_debtors):
        person = fakes.fake_name(rng)
        debtor = Debtor(
            f"debtor-{n:06d}", rng.choice(CLIENTS), person, fakes.fake_id_number(rng), fakes.fake_phone(rng)
        )
        debtors.append(debtor)
        for _ in range(rng.choices((1, 2, 3), (72, 20, 8))[0]):
            seq += 1
            case = _case(rng, debtor, seq, start)
            cases.append(case)
            links.append(Link(case.link_ids[0], case.case_id, _link_kind(case, rng)))
    month = Month(start, debtors, cases, links)
    Flows(rng, month).run(paid_share, round(transfer_share * n_debtors))
    rng.shuffle(month.payments)  # arrival order is not time order; the engine must not care
    return month


def moment(rng: random.Random, start: date, day_from: int = 0, day_to: int = DAYS - 1) -> datetime:
    day = start + timedelta(days=rng.randint(day_from, max(day_from, day_to)))
    return datetime.combine(day, time(rng.randint(7, 22), rng.randint(0, 59), rng.randint(0, 59)), CHINA)
