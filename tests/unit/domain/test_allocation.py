"""Allocation of a payment to a case's debts (Civil Code arts. 560-561 unless a contract says otherwise)."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.allocation import (
    CIVIL_CODE,
    Across,
    Allocation,
    AllocationLine,
    AllocationPolicy,
    allocate,
)
from payments.domain.cases import Component, DebtBalance
from payments.domain.errors import FieldError

FEES, INTEREST, PRINCIPAL = Component.FEES, Component.INTEREST, Component.PRINCIPAL

# --- strategies -----------------------------------------------------------------------------------


@st.composite
def debt_lists(draw: st.DrawFn) -> list[DebtBalance]:
    """Several debts with unique refs, few distinct due dates (so ties happen), components often zero."""
    refs = draw(st.lists(st.from_regex(r"D[0-9]{1,3}", fullmatch=True), unique=True, max_size=8))
    component = st.one_of(st.just(0), st.integers(min_value=0, max_value=50_000))
    return [
        DebtBalance(
            debt_ref=ref,
            due_date=draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2024, 1, 5))),
            fees=draw(component),
            interest=draw(component),
            principal=draw(component),
        )
        for ref in refs
    ]


policies = st.builds(
    AllocationPolicy,
    order=st.permutations(list(Component)).map(tuple),
    across=st.sampled_from(Across),
    basis=st.sampled_from(["civil_code_art_560_561", "contract"]),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[int, list[DebtBalance], AllocationPolicy]:
    debts = draw(debt_lists())
    total = sum(d.total for d in debts)
    amount = draw(
        st.one_of(
            st.integers(min_value=0, max_value=total + 10_000),
            st.just(total),
            st.sampled_from([0, 1]),
        )
    )
    return amount, debts, draw(policies)


# --- helpers: the order the law / contract prescribes, written independently of the module --------


def _debt_order(debts: list[DebtBalance]) -> list[DebtBalance]:
    # art. 560: the debt that fell due first; ties broken by reference so input order never matters.
    return sorted(debts, key=lambda d: (d.due_date.toordinal(), d.debt_ref))


def _slots(debts: list[DebtBalance], policy: AllocationPolicy) -> list[tuple[DebtBalance, Component]]:
    ordered = _debt_order(debts)
    if policy.across == Across.DEBT_FIRST:
        return [(d, c) for d in ordered for c in policy.order]
    return [(d, c) for c in policy.order for d in ordered]


def _applied(result: Allocation) -> dict[tuple[str, Component], int]:
    return {(line.debt_ref, line.component): line.fen for line in result.lines}


def _owed(debt: DebtBalance, component: Component) -> int:
    return max(0, {FEES: debt.fees, INTEREST: debt.interest, PRINCIPAL: debt.principal}[component])


# --- properties -----------------------------------------------------------------------------------


@given(cases())
def test_lines_plus_surplus_equal_the_amount(case: tuple[int, list[DebtBalance], AllocationPolicy]) -> None:
    amount, debts, policy = case
    result = allocate(amount, debts, policy)
    assert sum(line.fen for line in result.lines) + result.surplus_fen == amount
    assert result.applied_fen + result.surplus_fen == amount


@given(cases())
def test_no_line_exceeds_the_component_outstanding(
    case: tuple[int, list[DebtBalance], AllocationPolicy],
) -> None:
    amount, debts, policy = case
    by_ref = {d.debt_ref: d for d in debts}
    for line in allocate(amount, debts, policy).lines:
        assert line.fen <= _owed(by_ref[line.debt_ref], line.component)


@given(cases())
def test_every_line_is_positive_and_surplus_not_negative(
    case: tuple[int, list[DebtBalance], AllocationPolicy],
) -> None:
    amount, debts, policy = case
    result = allocate(amount, debts, policy)
    assert all(type(line.fen) is int and line.fen > 0 for line in result.lines)
    assert result.surplus_fen >= 0


@given(cases())
def test_at_most_one_line_per_debt_and_component(
    case: tuple[int, list[DebtBalance], AllocationPolicy],
) -> None:
    amount, debts, policy = case
    keys = Counter((line.debt_ref, line.component) for line in allocate(amount, debts, policy).lines)
    assert all(n == 1 for n in keys.values())


@given(cases())
def test_lines_only_name_debts_of_the_case(case: tuple[int, list[DebtBalance], AllocationPolicy]) -> None:
    amount, debts, policy = case
    refs = {d.debt_ref for d in debts}
    assert {line.debt_ref for line in allocate(amount, debts, policy).lines} <= refs


@given(cases())
def test_surplus_is_zero_unless_everything_is_fully_paid(
    case: tuple[int, list[DebtBalance], AllocationPolicy],
) -> None:
    amount, debts, policy = case
    result = allocate(amount, debts, policy)
    applied = _applied(result)
    if result.surplus_fen > 0:
        for debt in debts:
            for component in Component:
                assert applied.get((debt.debt_ref, component), 0) == _owed(debt, component)


@given(cases())
def test_surplus_is_exactly_the_amount_above_the_total_owed(
    case: tuple[int, list[DebtBalance], AllocationPolicy],
) -> None:
    amount, debts, policy = case
    owed = sum(_owed(d, c) for d in debts for c in Component)
    assert allocate(amount, debts, policy).surplus_fen == max(0, amount - owed)


@given(cases())
def test_a_later_slot_is_paid_only_when_every_earlier_slot_is_fully_paid(
    case: tuple[int, list[DebtBalance], AllocationPolicy],
) -> None:
    # DEBT_FIRST: slots in due-date then debt_ref order, components in policy order within a debt.
    # COMPONENT_FIRST: components in policy order, debts in due-date then debt_ref order within one.
    amount, debts, policy = case
    applied = _applied(allocate(amount, debts, policy))
    slots = _slots(debts, policy)
    for i, (debt, component) in enumerate(slots):
        if applied.get((debt.debt_ref, component), 0) > 0:
            for earlier, earlier_component in slots[:i]:
                assert applied.get((earlier.debt_ref, earlier_component), 0) == _owed(
                    earlier, earlier_component
                )


@given(cases())
def test_lines_are_listed_in_allocation_order(case: tuple[int, list[DebtBalance], AllocationPolicy]) -> None:
    amount, debts, policy = case
    slot_keys = [(d.debt_ref, c) for d, c in _slots(debts, policy)]
    listed = [(line.debt_ref, line.component) for line in allocate(amount, debts, policy).lines]
    assert listed == [k for k in slot_keys if k in set(listed)]


@given(cases(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_input_order_of_debts(
    case: tuple[int, list[DebtBalance], AllocationPolicy], rnd: object
) -> None:
    amount, debts, policy = case
    shuffled = list(debts)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert allocate(amount, shuffled, policy) == allocate(amount, debts, policy)
    assert allocate(amount, list(reversed(debts)), policy) == allocate(amount, debts, policy)


@given(cases())
def test_allocation_records_the_policy_basis(case: tuple[int, list[DebtBalance], AllocationPolicy]) -> None:
    amount, debts, policy = case
    assert allocate(amount, debts, policy).basis == policy.basis


@given(cases())
def test_paying_the_total_clears_every_component(
    case: tuple[int, list[DebtBalance], AllocationPolicy],
) -> None:
    _, debts, policy = case
    owed = sum(_owed(d, c) for d in debts for c in Component)
    result = allocate(owed, debts, policy)
    assert result.surplus_fen == 0
    assert _applied(result) == {
        (d.debt_ref, c): _owed(d, c) for d in debts for c in Component if _owed(d, c) > 0
    }


@given(debt_lists(), policies, st.integers(min_value=0, max_value=200_000), st.integers(0, 200_000))
def test_two_payments_in_a_row_equal_one_payment_of_the_sum(
    debts: list[DebtBalance], policy: AllocationPolicy, first: int, second: int
) -> None:
    # Allocating greedily in a fixed order: paying a then b ends where paying a + b ends.
    one = allocate(first, debts, policy)
    paid = _applied(one)
    remaining = [
        DebtBalance(
            d.debt_ref,
            d.due_date,
            fees=d.fees - paid.get((d.debt_ref, FEES), 0),
            interest=d.interest - paid.get((d.debt_ref, INTEREST), 0),
            principal=d.principal - paid.get((d.debt_ref, PRINCIPAL), 0),
        )
        for d in debts
    ]
    two = allocate(second, remaining, policy)
    combined = Counter(paid) + Counter(_applied(two))
    together = allocate(first + second, debts, policy)
    assert dict(combined) == _applied(together)
    assert one.surplus_fen + two.surplus_fen == together.surplus_fen


# --- worked examples ------------------------------------------------------------------------------


def _debt(ref: str, due: date, fees: int = 0, interest: int = 0, principal: int = 0) -> DebtBalance:
    return DebtBalance(ref, due, fees=fees, interest=interest, principal=principal)


def test_civil_code_pays_fees_then_interest_then_principal() -> None:
    result = allocate(250, [_debt("D1", date(2024, 1, 31), fees=100, interest=200, principal=1000)])
    assert result == Allocation(
        lines=(AllocationLine("D1", FEES, 100), AllocationLine("D1", INTEREST, 150)),
        surplus_fen=0,
        basis="civil_code_art_560_561",
    )


def test_civil_code_reaches_principal_after_fees_and_interest() -> None:
    result = allocate(500, [_debt("D1", date(2024, 1, 31), fees=100, interest=200, principal=1000)])
    assert result.lines == (
        AllocationLine("D1", FEES, 100),
        AllocationLine("D1", INTEREST, 200),
        AllocationLine("D1", PRINCIPAL, 200),
    )
    assert result.surplus_fen == 0


def test_overpayment_leaves_a_surplus_after_clearing_everything() -> None:
    result = allocate(1500, [_debt("D1", date(2024, 1, 31), fees=100, interest=200, principal=1000)])
    assert result.lines == (
        AllocationLine("D1", FEES, 100),
        AllocationLine("D1", INTEREST, 200),
        AllocationLine("D1", PRINCIPAL, 1000),
    )
    assert result.surplus_fen == 200


def test_civil_code_pays_the_earliest_due_debt_first_whatever_the_input_order() -> None:
    late = _debt("A-late", date(2024, 6, 30), fees=50, interest=50, principal=500)
    early = _debt("Z-early", date(2024, 1, 31), fees=10, interest=20, principal=300)
    result = allocate(400, [late, early])
    assert result.lines == (
        AllocationLine("Z-early", FEES, 10),
        AllocationLine("Z-early", INTEREST, 20),
        AllocationLine("Z-early", PRINCIPAL, 300),
        AllocationLine("A-late", FEES, 50),
        AllocationLine("A-late", INTEREST, 20),
    )
    assert result.surplus_fen == 0


def test_debts_due_the_same_day_are_taken_in_debt_ref_order() -> None:
    due = date(2024, 3, 31)
    result = allocate(150, [_debt("D2", due, principal=100), _debt("D1", due, principal=100)])
    assert result.lines == (AllocationLine("D1", PRINCIPAL, 100), AllocationLine("D2", PRINCIPAL, 50))


def test_component_first_pays_fees_of_every_debt_before_any_interest() -> None:
    policy = AllocationPolicy(across=Across.COMPONENT_FIRST, basis="contract")
    debts = [
        _debt("D2", date(2024, 2, 29), fees=100, interest=200, principal=1000),
        _debt("D1", date(2024, 1, 31), fees=100, interest=200, principal=1000),
    ]
    result = allocate(300, debts, policy)
    assert result == Allocation(
        lines=(
            AllocationLine("D1", FEES, 100),
            AllocationLine("D2", FEES, 100),
            AllocationLine("D1", INTEREST, 100),
        ),
        surplus_fen=0,
        basis="contract",
    )


def test_debt_first_with_same_debts_finishes_the_first_debt_before_the_second() -> None:
    debts = [
        _debt("D2", date(2024, 2, 29), fees=100, interest=200, principal=1000),
        _debt("D1", date(2024, 1, 31), fees=100, interest=200, principal=1000),
    ]
    result = allocate(1400, debts)
    assert result.lines == (
        AllocationLine("D1", FEES, 100),
        AllocationLine("D1", INTEREST, 200),
        AllocationLine("D1", PRINCIPAL, 1000),
        AllocationLine("D2", FEES, 100),
    )


def test_contract_order_can_put_principal_first() -> None:
    policy = AllocationPolicy(order=(PRINCIPAL, INTEREST, FEES), basis="contract-7")
    result = allocate(1100, [_debt("D1", date(2024, 1, 31), fees=100, interest=200, principal=1000)], policy)
    assert result.lines == (AllocationLine("D1", PRINCIPAL, 1000), AllocationLine("D1", INTEREST, 100))
    assert result.basis == "contract-7"


def test_components_with_nothing_outstanding_get_no_line() -> None:
    result = allocate(300, [_debt("D1", date(2024, 1, 31), fees=0, interest=0, principal=1000)])
    assert result.lines == (AllocationLine("D1", PRINCIPAL, 300),)


def test_negative_component_is_skipped_not_made_more_negative() -> None:
    result = allocate(300, [_debt("D1", date(2024, 1, 31), fees=-50, interest=100, principal=1000)])
    assert result.lines == (AllocationLine("D1", INTEREST, 100), AllocationLine("D1", PRINCIPAL, 200))


def test_zero_amount_allocates_nothing() -> None:
    result = allocate(0, [_debt("D1", date(2024, 1, 31), principal=1000)])
    assert result == Allocation(lines=(), surplus_fen=0, basis="civil_code_art_560_561")


def test_case_without_debts_turns_the_whole_amount_into_surplus() -> None:
    assert allocate(1234, []) == Allocation(lines=(), surplus_fen=1234, basis="civil_code_art_560_561")


def test_fully_paid_case_turns_the_whole_amount_into_surplus() -> None:
    result = allocate(500, [_debt("D1", date(2024, 1, 31))])
    assert result.lines == ()
    assert result.surplus_fen == 500


def test_allocate_does_not_change_the_debts_passed_in() -> None:
    debts = [_debt("D1", date(2024, 1, 31), fees=100, interest=200, principal=1000)]
    before = list(debts)
    allocate(250, debts)
    assert debts == before


@pytest.mark.parametrize("amount", [-1, 1.5, 100.0, True, "100", None])
def test_allocate_refuses_negative_or_non_int_amount(amount: object) -> None:
    with pytest.raises(ValueError, match="non-negative int"):
        allocate(amount, [_debt("D1", date(2024, 1, 31), principal=1000)])  # type: ignore[arg-type]


# --- AllocationPolicy -----------------------------------------------------------------------------


def test_default_policy_is_civil_code_fees_interest_principal_debt_first() -> None:
    assert CIVIL_CODE == AllocationPolicy()
    assert CIVIL_CODE.order == (FEES, INTEREST, PRINCIPAL)
    assert CIVIL_CODE.across is Across.DEBT_FIRST
    assert CIVIL_CODE.basis == "civil_code_art_560_561"


@pytest.mark.parametrize("order", list(itertools.permutations(Component)))
def test_policy_accepts_every_permutation_of_the_three_components(order: tuple[Component, ...]) -> None:
    assert AllocationPolicy(order=order).order == order


@pytest.mark.parametrize(
    "order",
    [
        (FEES, FEES, PRINCIPAL),
        (FEES, INTEREST, INTEREST),
        (PRINCIPAL, PRINCIPAL, PRINCIPAL),
        (FEES, INTEREST, PRINCIPAL, FEES),
        (FEES, INTEREST),
        (),
    ],
)
def test_policy_refuses_an_order_that_repeats_or_omits_a_component(order: tuple[Component, ...]) -> None:
    with pytest.raises(FieldError) as info:
        AllocationPolicy(order=order)
    assert info.value.field == "allocation.order"


def test_policy_given_as_strings_is_read_as_the_enums() -> None:
    # A client contract loaded from JSON names the order and mode as strings.
    policy = AllocationPolicy(order=("principal", "interest", "fees"), across="component_first")  # type: ignore[arg-type]
    assert policy.order == (PRINCIPAL, INTEREST, FEES)
    assert policy.across is Across.COMPONENT_FIRST


def test_policy_across_given_as_string_allocates_in_that_mode() -> None:
    policy = AllocationPolicy(across="debt_first")  # type: ignore[arg-type]
    debts = [
        _debt("D1", date(2024, 1, 31), fees=100, principal=1000),
        _debt("D2", date(2024, 2, 29), fees=100, principal=1000),
    ]
    assert allocate(300, debts, policy).lines == (
        AllocationLine("D1", FEES, 100),
        AllocationLine("D1", PRINCIPAL, 200),
    )


@pytest.mark.parametrize("order", [("fees", "interest", "capital"), (None, None, None), (1, 2, 3)])
def test_policy_refuses_an_unknown_component_with_field_error(order: tuple[object, ...]) -> None:
    with pytest.raises(FieldError) as info:
        AllocationPolicy(order=order)  # type: ignore[arg-type]
    assert info.value.field == "allocation.order"


@pytest.mark.parametrize("across", ["debt-first", "", None])
def test_policy_refuses_an_unknown_mode_with_field_error(across: object) -> None:
    with pytest.raises(FieldError) as info:
        AllocationPolicy(across=across)  # type: ignore[arg-type]
    assert info.value.field == "allocation.across"
