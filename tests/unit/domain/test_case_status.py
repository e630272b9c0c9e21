"""The case status machine: an explicit table, every other (from, event, to) is illegal."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.cases import (
    CLOSED,
    TRANSITIONS,
    CaseEvent,
    CaseStatus,
    Component,
    DebtBalance,
    status_for_balance,
    transition,
)
from payments.domain.errors import DomainError, IllegalTransition

S, E = CaseStatus, CaseEvent

# The table written out by hand, independently of the module, so a change to TRANSITIONS shows up here.
EXPECTED: set[tuple[CaseStatus, CaseEvent, CaseStatus]] = {
    # money applied to an active case
    (S.OPEN, E.PAYMENT, S.PARTIALLY_PAID),
    (S.OPEN, E.PAYMENT, S.PAID),
    (S.PARTIALLY_PAID, E.PAYMENT, S.PARTIALLY_PAID),
    (S.PARTIALLY_PAID, E.PAYMENT, S.PAID),
    # money applied on hold keeps the hold unless it pays the case off
    (S.ON_HOLD, E.PAYMENT, S.ON_HOLD),
    (S.ON_HOLD, E.PAYMENT, S.PAID),
    # settlement
    (S.OPEN, E.SETTLEMENT, S.SETTLED),
    (S.PARTIALLY_PAID, E.SETTLEMENT, S.SETTLED),
    # the case system changed the debts
    *(
        (s, E.AMEND, t)
        for s in (S.OPEN, S.PARTIALLY_PAID, S.ON_HOLD)
        for t in (S.OPEN, S.PARTIALLY_PAID, S.PAID)
    ),
    # hold and release
    (S.OPEN, E.HOLD, S.ON_HOLD),
    (S.PARTIALLY_PAID, E.HOLD, S.ON_HOLD),
    (S.ON_HOLD, E.RELEASE, S.OPEN),
    (S.ON_HOLD, E.RELEASE, S.PARTIALLY_PAID),
    # cancel and write off from any non-closed state
    *((s, E.CANCEL, S.CANCELLED) for s in (S.OPEN, S.PARTIALLY_PAID, S.ON_HOLD)),
    *((s, E.WRITE_OFF, S.WRITTEN_OFF) for s in (S.OPEN, S.PARTIALLY_PAID, S.ON_HOLD)),
    # refunds: the only way out of a closed state
    *(
        (s, E.REFUND, t)
        for s in (S.OPEN, S.PARTIALLY_PAID, S.PAID, S.SETTLED, S.WRITTEN_OFF, S.CANCELLED)
        for t in (S.OPEN, S.PARTIALLY_PAID)
    ),
    (S.ON_HOLD, E.REFUND, S.ON_HOLD),
}

ALL_TRIPLES = list(itertools.product(CaseStatus, CaseEvent, CaseStatus))
ALLOWED = [t for t in ALL_TRIPLES if t in EXPECTED]
FORBIDDEN = [t for t in ALL_TRIPLES if t not in EXPECTED]


def _id(triple: tuple[CaseStatus, CaseEvent, CaseStatus]) -> str:
    return "-".join(str(x) for x in triple)


def test_enumeration_covers_every_triple() -> None:
    assert len(ALL_TRIPLES) == 7 * 8 * 7
    assert len(ALLOWED) + len(FORBIDDEN) == len(ALL_TRIPLES)
    assert len(ALLOWED) == len(EXPECTED)


def test_transition_table_is_exactly_the_expected_table() -> None:
    actual = {(s, e, t) for (s, e), targets in TRANSITIONS.items() for t in targets}
    assert actual == EXPECTED


@pytest.mark.parametrize(("current", "event", "target"), ALLOWED, ids=[_id(t) for t in ALLOWED])
def test_allowed_transition_returns_the_target(
    current: CaseStatus, event: CaseEvent, target: CaseStatus
) -> None:
    assert transition(current, event, target) is target


@pytest.mark.parametrize(("current", "event", "target"), FORBIDDEN, ids=[_id(t) for t in FORBIDDEN])
def test_every_other_transition_raises_illegal_transition(
    current: CaseStatus, event: CaseEvent, target: CaseStatus
) -> None:
    with pytest.raises(IllegalTransition):
        transition(current, event, target)


def test_illegal_transition_is_a_409_domain_error_naming_states_and_event() -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(S.PAID, E.PAYMENT, S.PAID)
    assert isinstance(info.value, DomainError)
    assert info.value.status == 409
    assert info.value.type_slug == "illegal-transition"
    assert info.value.detail == "a case that is paid cannot become paid by payment"


def test_closed_states_are_paid_settled_written_off_cancelled() -> None:
    assert frozenset({S.PAID, S.SETTLED, S.WRITTEN_OFF, S.CANCELLED}) == CLOSED


@pytest.mark.parametrize("closed", sorted(CLOSED))
@pytest.mark.parametrize("event", [e for e in CaseEvent if e is not E.REFUND])
def test_closed_state_accepts_no_event_but_refund(closed: CaseStatus, event: CaseEvent) -> None:
    for target in CaseStatus:
        with pytest.raises(IllegalTransition):
            transition(closed, event, target)


@pytest.mark.parametrize("closed", sorted(CLOSED))
def test_closed_state_has_only_a_refund_entry_in_the_table(closed: CaseStatus) -> None:
    assert {e for (s, e) in TRANSITIONS if s is closed} == {E.REFUND}


@pytest.mark.parametrize("target", [S.OPEN, S.PARTIALLY_PAID])
def test_refund_reopens_a_paid_case(target: CaseStatus) -> None:
    assert transition(S.PAID, E.REFUND, target) is target


@pytest.mark.parametrize("closed", sorted(CLOSED))
def test_refund_never_leaves_a_case_closed(closed: CaseStatus) -> None:
    for target in CLOSED:
        with pytest.raises(IllegalTransition):
            transition(closed, E.REFUND, target)


def test_refund_on_hold_keeps_the_hold() -> None:
    assert transition(S.ON_HOLD, E.REFUND, S.ON_HOLD) is S.ON_HOLD


def test_payment_on_hold_keeps_the_hold() -> None:
    assert transition(S.ON_HOLD, E.PAYMENT, S.ON_HOLD) is S.ON_HOLD


def test_payment_on_hold_may_pay_the_case_off() -> None:
    assert transition(S.ON_HOLD, E.PAYMENT, S.PAID) is S.PAID


def test_payment_on_hold_cannot_release_the_hold() -> None:
    with pytest.raises(IllegalTransition):
        transition(S.ON_HOLD, E.PAYMENT, S.PARTIALLY_PAID)


def test_settlement_is_refused_on_hold() -> None:
    with pytest.raises(IllegalTransition):
        transition(S.ON_HOLD, E.SETTLEMENT, S.SETTLED)


def test_payment_cannot_move_a_case_back_to_open() -> None:
    with pytest.raises(IllegalTransition):
        transition(S.PARTIALLY_PAID, E.PAYMENT, S.OPEN)


@pytest.mark.parametrize("current", list(CaseStatus))
def test_no_event_leads_to_a_state_outside_the_enum(current: CaseStatus) -> None:
    with pytest.raises(IllegalTransition):
        transition(current, E.PAYMENT, "refunded")  # type: ignore[arg-type]


# --- status_for_balance ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outstanding", "paid", "expected"),
    [
        (1000, 0, S.OPEN),
        (1000, 1, S.PARTIALLY_PAID),
        (1, 999, S.PARTIALLY_PAID),
        (0, 1000, S.PAID),
        (0, 0, S.PAID),
        (-50, 1050, S.PAID),  # overpaid: the surplus is a credit, the case is paid
    ],
)
def test_status_for_balance(outstanding: int, paid: int, expected: CaseStatus) -> None:
    assert status_for_balance(outstanding, paid) is expected


@given(st.integers(max_value=0), st.integers(min_value=0))
def test_nothing_outstanding_means_paid(outstanding: int, paid: int) -> None:
    assert status_for_balance(outstanding, paid) is S.PAID


@given(st.integers(min_value=1), st.integers(min_value=1))
def test_something_outstanding_and_something_paid_means_partially_paid(outstanding: int, paid: int) -> None:
    assert status_for_balance(outstanding, paid) is S.PARTIALLY_PAID


@given(st.integers(min_value=1))
def test_something_outstanding_and_nothing_paid_means_open(outstanding: int) -> None:
    assert status_for_balance(outstanding, 0) is S.OPEN


@given(st.integers(), st.integers(min_value=0))
def test_status_for_balance_is_always_a_state_a_payment_may_reach(outstanding: int, paid: int) -> None:
    status = status_for_balance(outstanding, paid)
    if paid > 0:
        assert status in TRANSITIONS[(S.OPEN, E.PAYMENT)]


# --- DebtBalance ----------------------------------------------------------------------------------


def test_debt_balance_outstanding_reads_each_component() -> None:
    debt = DebtBalance("D1", date(2024, 1, 31), fees=100, interest=200, principal=1000)
    assert [debt.outstanding(c) for c in Component] == [100, 200, 1000]


def test_debt_balance_total_sums_the_components() -> None:
    assert DebtBalance("D1", date(2024, 1, 31), fees=100, interest=200, principal=1000).total == 1300
