"""Properties of `reconcile` over random small worlds: deterministic, independent of input order, never
applies a payment twice, never gives a statement line to two payments, and conserves money."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from payments.domain.cases import CaseStatus, DebtBalance
from reconciliation.decision import Decision, Outcome
from reconciliation.engine import CandidateIndex, RuleConfig, reconcile
from reconciliation.facts import CHINA, CaseFacts, PaymentFacts

NAMES = ["张小三", "張小三", "Zhang Xiaosan", "张*三", "李四", "王五", "ZHANG SAN", "欧阳明", ""]
DEBTOR_NAMES = ["张小三", "张三", "李四", "王五", "欧阳明"]
START = date(2025, 3, 1)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[CaseFacts], list[PaymentFacts]]:
    n_cases = draw(st.integers(1, 8))
    cases = []
    for i in range(n_cases):
        debts = tuple(
            DebtBalance(
                f"D{k}",
                START - timedelta(days=draw(st.integers(1, 5))),
                draw(st.integers(0, 500)),
                draw(st.integers(0, 2_000)),
                draw(st.integers(0, 20_000)),
            )
            for k in range(draw(st.integers(1, 3)))
        )
        cases.append(
            CaseFacts(
                case_id=f"c{i}",
                debtor_id=f"d{draw(st.integers(0, 3))}",
                debtor_name=draw(st.sampled_from(DEBTOR_NAMES)),
                debts=debts,
                status=draw(
                    st.sampled_from(
                        [
                            CaseStatus.OPEN,
                            CaseStatus.OPEN,
                            CaseStatus.PARTIALLY_PAID,
                            CaseStatus.ON_HOLD,
                            CaseStatus.PAID,
                        ]
                    )
                ),
                client_id=draw(st.sampled_from(["a", "b"])),
                case_number=f"AJ-2024-{i:06d}",
                contract_number=f"HT{i:010d}",
                id_last4=draw(st.sampled_from(["1234", "5678", "123X"])),
                link_ids=(f"L{i}",),
                offer_fen=draw(st.sampled_from([0, 0, 5_000])),
                settle_by=START + timedelta(days=10),
            )
        )
    balances = [c.balance_fen for c in cases if c.balance_fen > 0] or [100]
    payments = []
    for j in range(draw(st.integers(0, 12))):
        refs = [None, f"L{draw(st.integers(0, n_cases))}", f"c{draw(st.integers(0, n_cases))}"]
        memo_bits = draw(
            st.lists(
                st.sampled_from(
                    [
                        f"AJ-2024-{draw(st.integers(0, n_cases)):06d}",
                        "1234",
                        "HT0000000001",
                        "还款",
                        "货款",
                        "AJ-2024-00000",
                    ]
                ),
                max_size=2,
            )
        )
        payments.append(
            PaymentFacts(
                payment_id=f"p{draw(st.integers(0, 9)) if draw(st.booleans()) else j + 10}",
                amount_fen=draw(st.one_of(st.sampled_from(balances), st.integers(1, 30_000))),
                received_at=datetime.combine(
                    START + timedelta(days=draw(st.integers(0, 20))), time(draw(st.integers(0, 2)), 0), CHINA
                ),
                memo=" ".join(memo_bits),
                payer_name=draw(st.sampled_from(NAMES)),
                our_reference=draw(st.sampled_from(refs)),
                statement_line_id=draw(st.sampled_from([None, "S1", "S2", "S3", f"S{j + 10}"])),
                client_id=draw(st.sampled_from([None, "a", "b"])),
            )
        )
    return cases, payments


CONFIGS = [RuleConfig(), RuleConfig(auto_threshold=40, margin=0, block_cap=2)]


def _run(cases: list[CaseFacts], payments: list[PaymentFacts], config: RuleConfig) -> list[Decision]:
    return reconcile(payments, CandidateIndex(cases), config)


@settings(max_examples=100, deadline=None)
@given(worlds(), st.sampled_from(CONFIGS))
def test_reconcile_is_deterministic(
    world: tuple[list[CaseFacts], list[PaymentFacts]], config: RuleConfig
) -> None:
    cases, payments = world
    assert _run(cases, payments, config) == _run(cases, payments, config)


@settings(max_examples=100, deadline=None)
@given(worlds(), st.sampled_from(CONFIGS), st.randoms(use_true_random=False))
def test_reconcile_does_not_depend_on_input_order(
    world: tuple[list[CaseFacts], list[PaymentFacts]], config: RuleConfig, rnd: random.Random
) -> None:
    cases, payments = world
    shuffled_cases, shuffled_payments = cases[:], payments[:]
    rnd.shuffle(shuffled_cases)
    rnd.shuffle(shuffled_payments)
    assert _run(shuffled_cases, shuffled_payments, config) == _run(cases, payments, config)


@settings(max_examples=100, deadline=None)
@given(worlds(), st.sampled_from(CONFIGS))
def test_a_payment_is_never_applied_twice(
    world: tuple[list[CaseFacts], list[PaymentFacts]], config: RuleConfig
) -> None:
    applied = Counter(d.payment_id for d in _run(*world, config) if d.outcome is Outcome.APPLY)
    assert all(n == 1 for n in applied.values())


@settings(max_examples=100, deadline=None)
@given(worlds(), st.sampled_from(CONFIGS))
def test_a_statement_line_never_matches_two_payments(
    world: tuple[list[CaseFacts], list[PaymentFacts]], config: RuleConfig
) -> None:
    holders = Counter(
        d.statement_line_id
        for d in _run(*world, config)
        if d.statement_line_id and d.outcome is not Outcome.DUPLICATE
    )
    assert all(n == 1 for n in holders.values())


@settings(max_examples=100, deadline=None)
@given(worlds(), st.sampled_from(CONFIGS))
def test_allocations_plus_surplus_equal_the_payment(
    world: tuple[list[CaseFacts], list[PaymentFacts]], config: RuleConfig
) -> None:
    for d in _run(*world, config):
        if d.outcome is Outcome.APPLY:
            assert (
                sum(a.allocation.applied_fen + a.allocation.surplus_fen for a in d.applications)
                == d.amount_fen
            )
            assert d.unapplied_fen == 0
        else:
            assert d.applications == () and d.unapplied_fen == d.amount_fen


@settings(max_examples=100, deadline=None)
@given(worlds(), st.sampled_from(CONFIGS))
def test_no_debt_component_is_allocated_beyond_what_was_owed(
    world: tuple[list[CaseFacts], list[PaymentFacts]], config: RuleConfig
) -> None:
    cases, payments = world
    owed = {
        (c.case_id, d.debt_ref, comp): getattr(d, comp)
        for c in cases
        for d in c.debts
        for comp in ("fees", "interest", "principal")
    }
    taken: dict[tuple[str, str, str], int] = defaultdict(int)
    for d in _run(cases, payments, config):
        for a in d.applications:
            for line in a.allocation.lines:
                taken[(a.case_id, line.debt_ref, line.component.value)] += line.fen
    assert all(fen <= owed[key] for key, fen in taken.items())
