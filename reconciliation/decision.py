"""What the engine answers: per payment, apply it (to which cases, allocated how) or send it to review
with ranked, explained candidates. Plain frozen data, so a dry run is just reading it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from payments.domain.allocation import Allocation
from payments.domain.cases import CaseStatus


class Outcome(enum.StrEnum):
    APPLY = "apply"  # apply automatically: `applications` says where and how
    REVIEW = "review"  # a person decides: `candidates` are the engine's ranked suggestions
    DUPLICATE = "duplicate"  # the payment (or its statement line) was already taken: apply nothing


class Reason(enum.StrEnum):
    OUR_REFERENCE = "our_reference"
    RULES = "rules"
    NO_CANDIDATE = "no_candidate"
    BELOW_THRESHOLD = "below_threshold"
    SEVERAL_QUALIFY = "several_qualify"
    NO_MARGIN = "no_margin"
    POSSIBLE_TYPO = "possible_typo"
    CASE_CLOSED = "case_closed"
    DUPLICATE_PAYMENT = "duplicate_payment"
    STATEMENT_LINE_TAKEN = "statement_line_taken"
    CASE_REFUSED = "case_refused"  # paid through our link, but the case cannot take it as it stands


REASON_LABELS: dict[Reason, str] = {
    Reason.OUR_REFERENCE: "paid through our link / 通过本系统链接付款",
    Reason.RULES: "one candidate passed the rules with a clear margin / 唯一候选明显胜出",
    Reason.NO_CANDIDATE: "no case resembles this payment / 未找到相似案件",
    Reason.BELOW_THRESHOLD: "best candidate is below the automatic threshold / 最佳候选未达自动匹配分数",
    Reason.SEVERAL_QUALIFY: "several candidates pass the threshold / 多个候选达到自动匹配分数",
    Reason.NO_MARGIN: "best candidate is not clearly ahead of the next / 最佳候选领先不足",
    Reason.POSSIBLE_TYPO: "another debtor's case is one character away and fits as well / 另一债务人的案件号仅差一位且同样相符",
    Reason.CASE_CLOSED: "the matching case is closed / 匹配的案件已结案",
    Reason.DUPLICATE_PAYMENT: "this payment was already processed / 该付款已处理",
    Reason.STATEMENT_LINE_TAKEN: "this statement line already belongs to another payment / 该对账单明细已匹配其他付款",
    Reason.CASE_REFUSED: "paid through our link, but the case cannot take it as it stands / 经本系统链接付款，但案件当前状态无法入账",
}


@dataclass(frozen=True, slots=True)
class Criterion:
    """One rule that fired for a candidate. `label` is English / Chinese, for the review console."""

    code: str
    label: str
    weight: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A place the money might belong: one case, or several cases of one debtor (one payment, many cases)."""

    case_ids: tuple[str, ...]
    debtor_id: str
    score: int
    criteria: tuple[Criterion, ...]
    active: bool  # every case can take a payment now (not closed)


@dataclass(frozen=True, slots=True)
class CaseApplication:
    """The part of a payment applied to one case, and what it does to the case.

    `allocation.basis` is the legal basis (art. 560/561 or the client's contract); `allocation.surplus_fen`
    is money the case did not owe, kept as a credit and flagged for refund. `waived_fen` is what a met
    settlement offer forgives (the caller books it as an adjustment).
    """

    case_id: str
    allocation: Allocation
    status_before: CaseStatus
    status_after: CaseStatus
    waived_fen: int = 0

    @property
    def refund_flag(self) -> bool:
        return self.allocation.surplus_fen > 0

    @property
    def total_fen(self) -> int:
        return self.allocation.applied_fen + self.allocation.surplus_fen


@dataclass(frozen=True, slots=True)
class Decision:
    payment_id: str
    amount_fen: int
    outcome: Outcome
    reason: Reason
    applications: tuple[CaseApplication, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    statement_line_id: str | None = None

    @property
    def reason_label(self) -> str:
        return REASON_LABELS[self.reason]

    @property
    def applied_fen(self) -> int:
        return sum(a.allocation.applied_fen for a in self.applications)

    @property
    def surplus_fen(self) -> int:
        return sum(a.allocation.surplus_fen for a in self.applications)

    @property
    def unapplied_fen(self) -> int:
        """Money not placed on any case: the whole amount unless the outcome is APPLY."""
        return self.amount_fen - self.applied_fen - self.surplus_fen

    @property
    def case_ids(self) -> tuple[str, ...]:
        return tuple(a.case_id for a in self.applications)
