"""The matching criteria, each a small pure function, and the scoring of one candidate against them.

A candidate ("target") is one case or several cases of one debtor. Each configured rule that fires adds
its weight and a labelled criterion. Rules come in families (reference, name, amount): within a family
only the first rule in the configured order that fires counts, so a memo with both the case and the
contract number, or a name that matches exactly and in pinyin, is not counted twice.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from reconciliation.facts import CaseFacts, PaymentFacts
from reconciliation.names import NameMatch, PayerName


class Code(enum.StrEnum):
    CASE_NUMBER = "case_number"
    CONTRACT_NUMBER = "contract_number"
    NEAR_REFERENCE = "near_reference"
    KNOWN_ACCOUNT = "known_account"
    LINKED_DEBTOR = "linked_debtor"
    NAME_EXACT = "name_exact"
    NAME_CONVERTED = "name_converted"
    NAME_PINYIN = "name_pinyin"
    NAME_MASKED = "name_masked"
    NAME_MASK_HINT = "name_mask_hint"
    ID_LAST4 = "id_last4"
    PHONE_LAST4 = "phone_last4"
    AMOUNT_BALANCE = "amount_balance"
    AMOUNT_TOTAL = "amount_total"
    AMOUNT_OFFER = "amount_offer"
    AMOUNT_INSTALMENT = "amount_instalment"
    DATE_WINDOW = "date_window"


LABELS: dict[Code, str] = {
    Code.CASE_NUMBER: "reference in memo / 附言含案件号",
    Code.CONTRACT_NUMBER: "contract number in memo / 附言含合同号",
    Code.NEAR_REFERENCE: "memo reference one character off / 附言案件号或合同号差一位",
    Code.KNOWN_ACCOUNT: "account has paid this case before / 付款账户曾为该案件付款",
    Code.LINKED_DEBTOR: "paid through a link of the same debtor / 通过该债务人其他案件的链接付款",
    Code.NAME_EXACT: "name matches exactly / 姓名完全一致",
    Code.NAME_CONVERTED: "name matches after traditional-simplified conversion / 繁简转换后姓名一致",
    Code.NAME_PINYIN: "name matches in pinyin / 姓名拼音一致",
    Code.NAME_MASKED: "masked name fits / 掩码姓名相符",
    Code.NAME_MASK_HINT: "masked name does not contradict / 掩码姓名不矛盾",
    Code.ID_LAST4: "ID number last 4 in memo / 附言含身份证后四位",
    Code.PHONE_LAST4: "phone last 4 in memo / 附言含手机尾号",
    Code.AMOUNT_BALANCE: "amount equals balance / 金额等于余额",
    Code.AMOUNT_TOTAL: "amount equals the debtor's total balance / 金额等于该债务人全部案件余额",
    Code.AMOUNT_OFFER: "amount meets the settlement offer in time / 金额达到和解金额且在期限内",
    Code.AMOUNT_INSTALMENT: "amount equals an instalment / 金额等于一期分期金额",
    Code.DATE_WINDOW: "paid near a due or promised date / 付款日期临近约定日期",
}

FAMILY: dict[Code, str] = {
    Code.CASE_NUMBER: "reference",
    Code.CONTRACT_NUMBER: "reference",
    Code.NEAR_REFERENCE: "reference",
    Code.NAME_EXACT: "name",
    Code.NAME_CONVERTED: "name",
    Code.NAME_PINYIN: "name",
    Code.NAME_MASKED: "name",
    Code.NAME_MASK_HINT: "name",
    Code.AMOUNT_BALANCE: "amount",
    Code.AMOUNT_TOTAL: "amount",
    Code.AMOUNT_OFFER: "amount",
    Code.AMOUNT_INSTALMENT: "amount",
}


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far an amount may be from its target: a fixed number of fen, or basis points of the target
    (100 bp = 1%). Integers only: a float never touches an amount."""

    fixed_fen: int = 0
    percent_bp: int = 0

    def __post_init__(self) -> None:
        if type(self.fixed_fen) is not int or type(self.percent_bp) is not int:
            raise TypeError("Tolerance takes integer fen or basis points")
        if self.fixed_fen < 0 or self.percent_bp < 0 or (self.fixed_fen and self.percent_bp):
            raise ValueError("a tolerance is either fixed fen or percent, and not negative")

    def fen_for(self, target_fen: int) -> int:
        return self.fixed_fen if not self.percent_bp else target_fen * self.percent_bp // 10_000


EXACT = Tolerance()

# --- the payment, prepared once --------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Z0-9]+(?:[-_/.][A-Z0-9]+)*")
_SEPARATORS = re.compile(r"[-_/.]")


_DROP = str.maketrans("", "", "-_/. ")


def compact_reference(text: str) -> str:
    """Case and contract numbers as written in memos: upper case, half width, no separators."""
    if text.isalnum() and text.isascii():
        return text.upper()  # HT123456789012: nothing to drop
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return text.upper().translate(_DROP)


def memo_tokens(memo: str) -> frozenset[str]:
    """Letter-digit runs of a memo, compacted: '还款 案件号:AJ-2024-000123' -> {'AJ2024000123'}."""
    text = unicodedata.normalize("NFKC", memo).upper()
    return frozenset(_SEPARATORS.sub("", t) for t in _TOKEN.findall(text))


def last4_tokens(tokens: Iterable[str]) -> frozenset[str]:
    """Four-character tokens, and the last four of tokens shaped like a phone (11) or ID number (15, 18)."""
    found = set()
    for t in tokens:
        if len(t) == 4:
            found.add(t)
        elif len(t) in (11, 15, 18) and t[:-1].isdigit():
            found.add(t[-4:])
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Evidence:
    amount_fen: int
    day: date
    tokens: frozenset[str]
    memo_compact: str  # the whole memo as one alphanumeric run, for references glued to other text
    last4: frozenset[str]
    payer: PayerName
    account: str | None
    linked_group: tuple[str, str] | None  # debtor of the closed case our reference pointed to

    def __repr__(self) -> str:  # the memo and payer name may carry personal data
        return f"Evidence(amount_fen={self.amount_fen}, day={self.day.isoformat()})"

    @classmethod
    def of(cls, payment: PaymentFacts, linked_group: tuple[str, str] | None = None) -> Evidence:
        tokens = memo_tokens(payment.memo)
        compact = "".join(ch for ch in unicodedata.normalize("NFKC", payment.memo).upper() if ch.isalnum())
        return cls(
            amount_fen=payment.amount_fen,
            day=payment.day,
            tokens=tokens,
            memo_compact=compact,
            last4=last4_tokens(tokens),
            payer=PayerName.of(payment.payer_name),
            account=payment.payer_account or None,
            linked_group=linked_group,
        )


# --- the criteria ------------------------------------------------------------------------------------


def memo_has_reference(ev: Evidence, reference: str) -> bool:
    """The reference is a token of the memo, or (when long enough not to occur by chance) inside it."""
    ref = compact_reference(reference)
    if not ref:
        return False
    return ref in ev.tokens or (len(ref) >= 8 and ref in ev.memo_compact)


def one_edit_apart(a: str, b: str) -> bool:
    """True when a and b differ by one substitution, insertion, deletion or swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long_, strict=False)) if x != y), len(short))
    return short[i:] == long_[i + 1 :]


def memo_has_near_reference(ev: Evidence, reference: str) -> bool:
    """A memo token one typo away from the reference. Short references are excluded: one edit from a
    six-character number is too likely to be another number."""
    ref = compact_reference(reference)
    return len(ref) >= 6 and any(one_edit_apart(t, ref) for t in ev.tokens if abs(len(t) - len(ref)) <= 1)


def memo_has_last4(ev: Evidence, last4: str) -> bool:
    return len(last4) == 4 and last4.upper() in ev.last4


def name_level(ev: Evidence, debtor_name: str) -> NameMatch:
    return _compare(ev.payer, debtor_name)


@lru_cache(maxsize=100_000)
def _compare(payer: PayerName, debtor_name: str) -> NameMatch:
    return payer.compare(debtor_name)


def within(amount_fen: int, target_fen: int, tolerance: Tolerance) -> bool:
    return target_fen > 0 and abs(amount_fen - target_fen) <= tolerance.fen_for(target_fen)


def amount_equals_balance(amount_fen: int, case: CaseFacts, tolerance: Tolerance) -> bool:
    return within(amount_fen, case.balance_fen, tolerance)


def amount_equals_total(amount_fen: int, cases: Sequence[CaseFacts], tolerance: Tolerance) -> bool:
    return within(amount_fen, sum(c.balance_fen for c in cases), tolerance)


def amount_equals_instalment(amount_fen: int, case: CaseFacts, tolerance: Tolerance) -> bool:
    return any(within(amount_fen, i.amount_fen, tolerance) for i in case.instalments)


def amount_meets_offer(amount_fen: int, day: date, case: CaseFacts, tolerance: Tolerance) -> bool:
    """What is left of the offer, paid on or before its date (a late offer payment is just a payment)."""
    if not case.offer_fen or case.settle_by is None or day > case.settle_by:
        return False
    return within(amount_fen, case.offer_fen - case.offer_paid_fen, tolerance)


def near_expected_date(day: date, case: CaseFacts, window_days: int) -> bool:
    expected = [i.due_date for i in case.instalments] + list(case.promised_dates)
    if case.settle_by is not None:
        expected.append(case.settle_by)
    return any(abs((day - d).days) <= window_days for d in expected)


def account_paid_before(ev: Evidence, case: CaseFacts) -> bool:
    return ev.account is not None and ev.account in case.payer_accounts


# --- scoring a target --------------------------------------------------------------------------------


Check = Callable[[Evidence, Sequence[CaseFacts], Tolerance, int], bool]


NAME_LEVELS: dict[Code, NameMatch] = {
    Code.NAME_EXACT: NameMatch.EXACT,
    Code.NAME_CONVERTED: NameMatch.CONVERTED,
    Code.NAME_PINYIN: NameMatch.PINYIN,
    Code.NAME_MASKED: NameMatch.MASKED,
    Code.NAME_MASK_HINT: NameMatch.MASK_HINT,
}


def _name_is(level: NameMatch) -> Check:
    return lambda ev, cases, tol, days: name_level(ev, cases[0].debtor_name) is level


# Whether one rule fires for a target: one case, or several cases of one debtor. Debtor-level facts
# (name, ID, phone) are read from the first case: a group shares its debtor. A table, not a chain of
# comparisons: this is the innermost loop of the engine.
CHECKS: dict[Code, Check] = {
    Code.CASE_NUMBER: lambda ev, cases, tol, days: any(memo_has_reference(ev, c.case_number) for c in cases),
    Code.CONTRACT_NUMBER: lambda ev, cases, tol, days: any(
        memo_has_reference(ev, c.contract_number) for c in cases
    ),
    Code.NEAR_REFERENCE: lambda ev, cases, tol, days: any(
        memo_has_near_reference(ev, r) for c in cases for r in (c.case_number, c.contract_number)
    ),
    Code.KNOWN_ACCOUNT: lambda ev, cases, tol, days: any(account_paid_before(ev, c) for c in cases),
    Code.LINKED_DEBTOR: lambda ev, cases, tol, days: (
        ev.linked_group is not None and cases[0].group_key == ev.linked_group
    ),
    Code.NAME_EXACT: _name_is(NameMatch.EXACT),
    Code.NAME_CONVERTED: _name_is(NameMatch.CONVERTED),
    Code.NAME_PINYIN: _name_is(NameMatch.PINYIN),
    Code.NAME_MASKED: _name_is(NameMatch.MASKED),
    Code.NAME_MASK_HINT: _name_is(NameMatch.MASK_HINT),
    Code.ID_LAST4: lambda ev, cases, tol, days: memo_has_last4(ev, cases[0].id_last4),
    Code.PHONE_LAST4: lambda ev, cases, tol, days: memo_has_last4(ev, cases[0].phone_last4),
    Code.AMOUNT_BALANCE: lambda ev, cases, tol, days: (
        len(cases) == 1 and amount_equals_balance(ev.amount_fen, cases[0], tol)
    ),
    Code.AMOUNT_TOTAL: lambda ev, cases, tol, days: (
        len(cases) > 1 and amount_equals_total(ev.amount_fen, cases, tol)
    ),
    Code.AMOUNT_OFFER: lambda ev, cases, tol, days: (
        len(cases) == 1 and amount_meets_offer(ev.amount_fen, ev.day, cases[0], tol)
    ),
    Code.AMOUNT_INSTALMENT: lambda ev, cases, tol, days: (
        len(cases) == 1 and amount_equals_instalment(ev.amount_fen, cases[0], tol)
    ),
    Code.DATE_WINDOW: lambda ev, cases, tol, days: any(near_expected_date(ev.day, c, days) for c in cases),
}


def fires(
    code: Code, tolerance: Tolerance, window_days: int, ev: Evidence, cases: Sequence[CaseFacts]
) -> bool:
    """Whether the rule `code` fires for a target (one case, or several cases of one debtor)."""
    return CHECKS[code](ev, cases, tolerance, window_days)
