"""Scoring the engine against a generated month's truth (shared by the scoring test and the benchmark)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from reconciliation.decision import Decision, Outcome
from reconciliation.generator import Month


@dataclass
class Score:
    payments: int = 0  # distinct payments decided (duplicates excluded)
    belonging: int = 0  # of those, payments whose money belongs to one of our cases
    auto: int = 0
    auto_right: int = 0
    wrong: list[str] = field(default_factory=list)  # payment ids applied to the wrong place (must be empty)
    duplicates_applied: list[str] = field(default_factory=list)
    review: int = 0
    by_scenario: Counter[tuple[str, str]] = field(default_factory=Counter)
    clear: int = 0
    clear_auto: int = 0
    transfers: int = 0  # unreferenced transfers whose money is ours
    transfers_auto: int = 0

    @property
    def precision(self) -> float:
        return self.auto_right / self.auto if self.auto else 1.0

    @property
    def recall(self) -> float:
        return self.auto_right / self.belonging if self.belonging else 1.0

    @property
    def transfer_recall(self) -> float:
        return self.transfers_auto / self.transfers if self.transfers else 1.0

    @property
    def clear_recall(self) -> float:
        return self.clear_auto / self.clear if self.clear else 1.0

    def line(self) -> str:
        return (
            f"payments={self.payments} belonging={self.belonging} auto={self.auto} wrong={len(self.wrong)} "
            f"precision={self.precision:.4f} recall={self.recall:.4f} "
            f"transfer_recall={self.transfer_recall:.4f} clear_transfer_recall={self.clear_recall:.4f} "
            f"review_queue={self.review}"
        )


def score_month(month: Month, decisions: list[Decision]) -> Score:
    s = Score()
    for d in decisions:
        truth = month.truth[d.payment_id]
        applied = d.outcome is Outcome.APPLY
        s.by_scenario[(truth.scenario, d.outcome.value if not applied else "apply")] += 1
        if d.outcome is Outcome.DUPLICATE:
            continue
        if truth.duplicate:
            if applied:
                s.duplicates_applied.append(d.payment_id)
            continue
        s.payments += 1
        s.review += d.outcome is Outcome.REVIEW
        s.belonging += bool(truth.case_ids)
        is_transfer = d.payment_id.startswith("bt-")
        s.clear += truth.clear and is_transfer
        s.transfers += is_transfer and bool(truth.case_ids)
        if applied:
            s.auto += 1
            right = set(d.case_ids) == set(truth.case_ids)
            if right:
                s.auto_right += 1
                s.clear_auto += truth.clear and is_transfer
                s.transfers_auto += is_transfer
            else:
                s.wrong.append(d.payment_id)
    return s
