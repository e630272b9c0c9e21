"""The matching engine: payments in, decisions out. Pure and deterministic.

- A payment carrying our reference (a case id or link id we issued) to an active case goes there.
- Any other payment is scored against the cases its blocking keys find (`CandidateIndex`): each
  candidate (one case, or several cases of one debtor) gets a score and the criteria that fired. It is
  applied automatically only when the best candidate reaches `auto_threshold`, no other debtor's
  candidate does, it leads the next candidate by `margin`, no other debtor's case one typo away from
  the memo's number fits as well, and its cases are active; everything else goes to review with the
  ranked candidates.
- `reconcile` processes a batch in a fixed order (received time, then id), keeping the cases' balances
  as they change, so several payments can settle one case and none is applied twice.

Dry run: the engine never writes anything. Calling `reconcile` and reading the decisions *is* the dry
run; the job applies them (allocations, statuses, outbox) only when it is not a dry run. Nothing here
logs: the facts include plain debtor names.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from reconciliation.application import apply_payment
from reconciliation.config import Rule, RuleConfig
from reconciliation.decision import Candidate, Criterion, Decision, Outcome, Reason
from reconciliation.facts import CaseFacts, PaymentFacts
from reconciliation.index import AMOUNT_BUCKET_FEN, CandidateIndex
from reconciliation.names import NameMatch
from reconciliation.rules import (
    CHECKS,
    FAMILY,
    LABELS,
    NAME_LEVELS,
    Code,
    Evidence,
    account_paid_before,
    memo_has_last4,
    name_level,
)

__all__ = ["CandidateIndex", "RuleConfig", "applicable", "decide", "reconcile", "score"]

# Sets of a debtor's cases are tried as one target up to this many cases (2^6 subsets); a debtor with
# more open cases than that is offered only all of them together.
MAX_SUBSET_CASES = 6


@dataclass
class _Run:
    """Cases as changed by the payments decided so far in this run; the index itself never changes."""

    index: CandidateIndex
    changed: dict[int, CaseFacts] = field(default_factory=dict)
    by_amount: dict[int, set[int]] = field(default_factory=dict)  # new balances, by amount bucket

    def case(self, pos: int) -> CaseFacts:
        return self.changed.get(pos) or self.index.cases[pos]

    def owing(self, amount_fen: int, slack: int) -> set[int]:
        """Cases whose balance changed in this run and now owe about `amount_fen`."""
        found: set[int] = set()
        for bucket in range(
            (amount_fen - slack) // AMOUNT_BUCKET_FEN, (amount_fen + slack) // AMOUNT_BUCKET_FEN + 1
        ):
            found |= self.by_amount.get(bucket, set())
        return found

    def update(self, case: CaseFacts) -> None:
        pos = self.index.position(case.case_id)
        assert pos is not None
        self.changed[pos] = case
        for amount in CandidateIndex.amounts_of(case):
            self.by_amount.setdefault(amount // AMOUNT_BUCKET_FEN, set()).add(pos)


def score(
    ev: Evidence, cases: list[CaseFacts], config: RuleConfig, rules: Sequence[Rule] | None = None
) -> tuple[int, tuple[Criterion, ...]]:
    """The score of one target and the criteria that fired, in the configured order. `rules` defaults
    to those of `config` that this payment's evidence can fire at all (see `applicable`)."""
    done: set[str] = set()
    fired: list[Criterion] = []
    window = config.date_window_days
    level: NameMatch | None = None  # the name is compared once, whichever name rules are configured
    for rule in applicable(config.rules, ev) if rules is None else rules:
        family = rule.family
        if not rule.weight or family in done:
            continue
        if family == "name":
            level = name_level(ev, cases[0].debtor_name) if level is None else level
            hit = level is NAME_LEVELS[rule.code]
        else:
            hit = CHECKS[rule.code](ev, cases, rule.tolerance, window)
        if hit:
            done.add(family)
            fired.append(_criterion(rule.code, rule.weight))
    return sum(c.weight for c in fired), tuple(fired)


def applicable(rules: Sequence[Rule], ev: Evidence) -> list[Rule]:
    """The rules this payment's evidence can fire at all: no memo, no memo rule; no payer name, no name
    rule. Worked out once per payment, it spares most checks on each of its candidates."""
    needs = {
        "reference": bool(ev.tokens),
        "name": bool(ev.payer.cleaned),
        Code.ID_LAST4.value: bool(ev.last4),
        Code.PHONE_LAST4.value: bool(ev.last4),
        Code.KNOWN_ACCOUNT.value: ev.account is not None,
        Code.LINKED_DEBTOR.value: ev.linked_group is not None,
    }
    return [r for r in rules if needs.get(r.family, True)]


@functools.lru_cache(maxsize=256)
def _criterion(code: Code, weight: int) -> Criterion:
    return Criterion(code.value, LABELS[code], weight)


def _corroborated(ev: Evidence, case: CaseFacts, slack: int) -> bool:
    """Whether something besides a near-miss number points at the case: any form of the debtor's name,
    the amount it owes, an ID or phone tail, an account that paid it before."""
    return (
        name_level(ev, case.debtor_name) is not NameMatch.NONE
        or any(abs(ev.amount_fen - a) <= slack for a in CandidateIndex.amounts_of(case))
        or memo_has_last4(ev, case.id_last4)
        or memo_has_last4(ev, case.phone_last4)
        or account_paid_before(ev, case)
    )


def _group_targets(
    run: _Run, key: tuple[str, str], amount_fen: int, best: CaseFacts, slack: int
) -> list[list[CaseFacts]]:
    """Several cases of one debtor as one target (one payment, many cases), each oldest-due first:

    - every set of the debtor's active cases whose balances add up to the amount (within `slack`):
      paying two of three cases exactly is as telling as paying one case exactly;
    - all of them, when the amount is more than the debtor's best-matching case owes: then "that
      case, with a surplus to refund" and "spread over the debtor's cases" compete, and unless the
      amount settles it, a person chooses.
    """
    members = [run.case(p) for p in run.index.group(key)]
    active = sorted((c for c in members if c.active), key=lambda c: (c.oldest_due, c.case_id))
    if len(active) < 2:
        return []
    found: list[list[CaseFacts]] = []
    if len(active) <= MAX_SUBSET_CASES:
        for size in range(2, len(active) + 1):
            for subset in itertools.combinations(active, size):
                if abs(sum(c.balance_fen for c in subset) - amount_fen) <= slack:
                    found.append(list(subset))
    if amount_fen > best.balance_fen + slack and active not in found:
        found.append(active)
    return found


def _candidates(
    payment: PaymentFacts, run: _Run, config: RuleConfig, linked: tuple[str, str] | None
) -> list[Candidate]:
    ev = Evidence.of(payment, linked)
    slack = config.amount_slack(payment.amount_fen)
    found = run.index.lookup(ev, config.block_cap, slack)
    positions = found.strong | {p for p in found.near if _corroborated(ev, run.case(p), slack)}
    if not positions:  # nothing names the payer's case: what owes this amount, or what common keys share
        positions = found.amount | run.owing(payment.amount_fen, slack)
    if not positions:
        positions = set(found.intersection(config.block_cap))
    client = payment.client_id
    singles = [run.case(p) for p in sorted(positions)]
    rules = applicable(config.rules, ev)
    scored = [
        (score(ev, [c], config, rules), [c]) for c in singles if client is None or c.client_id == client
    ]
    best: dict[tuple[str, str], tuple[int, CaseFacts]] = {}
    for (total, _), (case,) in scored:
        if case.active and total > best.get(case.group_key, (-1, case))[0]:
            best[case.group_key] = (total, case)
    for key in sorted(best):
        for cases in _group_targets(run, key, payment.amount_fen, best[key][1], slack):
            scored.append((score(ev, cases, config, rules), cases))
    found = [
        Candidate(
            tuple(c.case_id for c in cases), cases[0].debtor_id, total, criteria, all(c.active for c in cases)
        )
        for (total, criteria), cases in scored
        if total >= config.min_score
    ]
    found.sort(key=lambda c: (-c.score, c.case_ids))
    return found


def _verdict(ranked: list[Candidate], config: RuleConfig) -> Reason:
    if not ranked:
        return Reason.NO_CANDIDATE
    top = ranked[0]
    if top.score < config.auto_threshold:
        return Reason.BELOW_THRESHOLD
    # Another reading of the same debtor's cases (one case, two of them, all of them) is not a rival: the
    # money goes to the same person either way. Which reading wins is for the margin to settle.
    rivals = [c for c in ranked[1:] if c.score >= config.auto_threshold and c.debtor_id != top.debtor_id]
    if rivals:
        return Reason.SEVERAL_QUALIFY
    if len(ranked) > 1 and top.score - ranked[1].score < config.margin:
        return Reason.NO_MARGIN
    if _typo_rival(top, ranked[1:]):
        return Reason.POSSIBLE_TYPO
    if not top.active:
        return Reason.CASE_CLOSED
    return Reason.RULES


_EXACT_REFERENCE = frozenset({Code.CASE_NUMBER.value, Code.CONTRACT_NUMBER.value})
_REFERENCE = _EXACT_REFERENCE | {Code.NEAR_REFERENCE.value}


def _typo_rival(top: Candidate, others: list[Candidate]) -> bool:
    """Whether the memo's number may be a typo for another debtor's case that fits at least as well.

    Case numbers are dense (AJ-2024-000123 is one slip from dozens of real ones), so a memo naming case
    X is not proof when another debtor's case, one character away, has everything else X has (the same
    name, the same amount...). Between one debtor's own cases the named case stands: it is the debtor's
    designation (art. 560), and the money stays with the same person.
    """
    if not any(c.code in _EXACT_REFERENCE for c in top.criteria):
        return False
    need = _by_family(top)
    for rival in others:
        if rival.debtor_id == top.debtor_id or not any(c.code == Code.NEAR_REFERENCE for c in rival.criteria):
            continue
        has = _by_family(rival)
        if all(has.get(family, -1) >= weight for family, weight in need.items()):
            return True
    return False


def _by_family(candidate: Candidate) -> dict[str, int]:
    """The weight each non-reference family of criteria contributed (name: 35, amount: 25, ...)."""
    found: dict[str, int] = {}
    for c in candidate.criteria:
        if c.code not in _REFERENCE:
            family = FAMILY.get(Code(c.code), c.code)
            found[family] = found.get(family, 0) + c.weight
    return found


def _decide(payment: PaymentFacts, run: _Run, config: RuleConfig) -> Decision:
    linked = None
    if payment.our_reference:
        pos = run.index.position(payment.our_reference)
        if pos is not None:
            case = run.case(pos)
            same_client = payment.client_id is None or payment.client_id == case.client_id
            if case.active and same_client:
                return _apply(payment, run, [case], Reason.OUR_REFERENCE, ())
            # A link of a closed case: the money may be meant for the debtor's other case. The rules
            # decide, with the link's debtor as evidence.
            linked = case.group_key if same_client else None
    ranked = _candidates(payment, run, config, linked)
    reason = _verdict(ranked, config)
    shown = tuple(ranked[: config.max_candidates])
    if reason is not Reason.RULES:
        return Decision(
            payment.payment_id,
            payment.amount_fen,
            Outcome.REVIEW,
            reason,
            (),
            shown,
            payment.statement_line_id,
        )
    cases = [run.case(run.index.position(i)) for i in ranked[0].case_ids]  # type: ignore[arg-type]
    return _apply(payment, run, cases, reason, shown)


def _apply(
    payment: PaymentFacts, run: _Run, cases: list[CaseFacts], reason: Reason, shown: tuple[Candidate, ...]
) -> Decision:
    records, updated = apply_payment(payment.amount_fen, cases, payment.day)
    for case in updated:
        run.update(case)
    return Decision(
        payment.payment_id,
        payment.amount_fen,
        Outcome.APPLY,
        reason,
        records,
        shown,
        payment.statement_line_id,
    )


def decide(payment: PaymentFacts, index: CandidateIndex, config: RuleConfig | None = None) -> Decision:
    """The decision for one payment against the cases as the index holds them."""
    return _decide(payment, _Run(index), config or RuleConfig())


def _order(p: PaymentFacts) -> tuple:  # type: ignore[type-arg]
    # Every field takes part, so even two different payments under one id are ordered the same way
    # whatever order they were given in.
    return (
        p.received_at,
        p.payment_id,
        p.amount_fen,
        p.statement_line_id or "",
        p.our_reference or "",
        p.memo,
        p.payer_name,
        p.payer_account or "",
        p.client_id or "",
        p.rail,
    )


def reconcile(
    payments: Iterable[PaymentFacts],
    index: CandidateIndex,
    config: RuleConfig | None = None,
    *,
    applied_payment_ids: Collection[str] = (),
    taken_statement_lines: Collection[str] = (),
) -> list[Decision]:
    """Decide a batch, in received-time order (then id): the result does not depend on input order.

    A payment id is decided once: a repeat, or an id in `applied_payment_ids` (applied in an earlier
    run), is a DUPLICATE. A statement line belongs to the first payment that carries it: a later one, or
    a line in `taken_statement_lines`, is a DUPLICATE. Payments applied earlier in the batch have already
    changed the balances later payments are compared with.
    """
    config = config or RuleConfig()
    run = _Run(index)
    seen: set[str] = set(applied_payment_ids)
    lines: set[str] = set(taken_statement_lines)
    decisions: list[Decision] = []
    for payment in sorted(payments, key=_order):
        line = payment.statement_line_id
        if payment.payment_id in seen:
            reason = Reason.DUPLICATE_PAYMENT
        elif line is not None and line in lines:
            reason = Reason.STATEMENT_LINE_TAKEN
        else:
            seen.add(payment.payment_id)
            if line is not None:
                lines.add(line)
            decisions.append(_decide(payment, run, config))
            continue
        decisions.append(
            Decision(payment.payment_id, payment.amount_fen, Outcome.DUPLICATE, reason, (), (), line)
        )
    return decisions
