"""Link amount policies (payable_range, check_amount), expiry and the link status table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from payments.domain.errors import FieldError, IllegalTransition
from payments.domain.links import (
    LINK_TRANSITIONS,
    AmountChoice,
    AmountPolicy,
    Instalment,
    LinkStatus,
    PolicyKind,
    check_amount,
    expiry_for,
    link_transition,
    payable_range,
)

FEN = st.integers(min_value=1, max_value=10_000_000)
BALANCE = st.integers(min_value=-1000, max_value=10_000_000)
PAID = st.integers(min_value=0, max_value=10_000_000)


@st.composite
def plans(draw: st.DrawFn) -> tuple[Instalment, ...]:
    amounts = draw(st.lists(st.integers(min_value=1, max_value=500_000), min_size=1, max_size=12))
    start = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 1, 1)))
    gaps = draw(
        st.lists(st.integers(min_value=1, max_value=60), min_size=len(amounts), max_size=len(amounts))
    )
    due, out = start, []
    for amount, gap in zip(amounts, gaps, strict=True):
        due += timedelta(days=gap)
        out.append(Instalment(amount, due))
    return tuple(out)


@st.composite
def policies(draw: st.DrawFn) -> AmountPolicy:
    kind = draw(st.sampled_from(PolicyKind))
    if kind is PolicyKind.FIXED:
        return AmountPolicy(kind, amount_fen=draw(FEN))
    if kind is PolicyKind.RANGE:
        return AmountPolicy(kind, min_fen=draw(FEN))
    if kind is PolicyKind.SETTLEMENT:
        return AmountPolicy(kind, amount_fen=draw(FEN), settle_by=date(2030, 1, 1))
    if kind is PolicyKind.INSTALMENTS:
        return AmountPolicy(kind, instalments=draw(plans()))
    return AmountPolicy(kind)


def _accepts(choice: AmountChoice, amount: int) -> bool:
    try:
        return check_amount(choice, amount) == amount
    except FieldError:
        return False


# ---- properties that hold for every policy ---------------------------------------------------------


@given(policies(), BALANCE, PAID)
def test_never_above_the_balance(policy, balance, paid):
    choice = payable_range(policy, balance, paid)
    if choice is not None:
        assert 0 < choice.min_fen <= choice.suggested_fen <= choice.max_fen <= balance


@given(policies(), st.integers(min_value=-1000, max_value=0), PAID)
def test_nothing_is_payable_without_a_balance(policy, balance, paid):
    assert payable_range(policy, balance, paid) is None


@given(policies(), FEN, PAID, st.integers(min_value=-20_000_000, max_value=20_000_000))
def test_check_amount_accepts_exactly_the_offered_range(policy, balance, paid, amount):
    choice = payable_range(policy, balance, paid)
    assume(choice is not None)
    assert _accepts(choice, amount) == (choice.min_fen <= amount <= choice.max_fen)


@given(policies(), FEN, PAID, st.integers(min_value=1, max_value=20_000_000))
def test_an_accepted_amount_is_never_above_the_balance(policy, balance, paid, amount):
    choice = payable_range(policy, balance, paid)
    assume(choice is not None and _accepts(choice, amount))
    assert amount <= balance


@given(FEN, FEN, st.integers(min_value=1, max_value=20_000_000))
def test_range_never_below_the_minimum_except_to_pay_the_whole_remainder(min_fen, balance, amount):
    choice = payable_range(AmountPolicy(PolicyKind.RANGE, min_fen=min_fen), balance, 0)
    assert choice is not None
    if _accepts(choice, amount) and amount < min_fen:
        assert amount == balance


@given(FEN, FEN)
def test_range_offers_the_minimum_to_the_balance(min_fen, balance):
    choice = payable_range(AmountPolicy(PolicyKind.RANGE, min_fen=min_fen), balance, 0)
    assert choice == AmountChoice(min(min_fen, balance), balance, balance)


@given(FEN, FEN)
def test_range_below_the_minimum_and_not_the_remainder_is_refused(min_fen, balance):
    assume(min_fen > 1 and balance > min_fen)
    choice = payable_range(AmountPolicy(PolicyKind.RANGE, min_fen=min_fen), balance, 0)
    assert choice is not None
    with pytest.raises(FieldError) as exc:
        check_amount(choice, min_fen - 1)
    assert exc.value.field == "amount"


@given(FEN, PAID)
def test_full_balance_offers_exactly_the_balance(balance, paid):
    choice = payable_range(AmountPolicy(PolicyKind.FULL_BALANCE), balance, paid)
    assert choice == AmountChoice(balance, balance, balance)
    assert choice.fixed


@given(FEN, FEN, PAID)
def test_fixed_offers_its_amount_capped_at_the_balance(amount, balance, paid):
    choice = payable_range(AmountPolicy(PolicyKind.FIXED, amount_fen=amount), balance, paid)
    want = min(amount, balance)
    assert choice == AmountChoice(want, want, want)


# ---- settlement -------------------------------------------------------------------------------------


@given(FEN, FEN, PAID)
def test_settlement_offers_what_remains_of_the_offer(offer, balance, paid):
    policy = AmountPolicy(PolicyKind.SETTLEMENT, amount_fen=offer, settle_by=date(2030, 1, 1))
    choice = payable_range(policy, balance, paid)
    if paid >= offer:
        assert choice is None
    else:
        want = min(offer - paid, balance)
        assert choice == AmountChoice(want, want, want)


@given(st.lists(FEN, min_size=1, max_size=6), FEN)
def test_settlement_paid_in_parts_adds_up_to_the_offer(parts, offer):
    policy = AmountPolicy(PolicyKind.SETTLEMENT, amount_fen=offer, settle_by=date(2030, 1, 1))
    balance = 100_000_000
    paid = 0
    for part in parts:
        choice = payable_range(policy, balance, paid)
        if choice is None:
            break
        paid += min(part, choice.max_fen)  # the borrower pays what the page allows, in several orders
    assert paid <= offer
    assert (payable_range(policy, balance, paid) is None) == (paid == offer)


# ---- instalments ------------------------------------------------------------------------------------


@given(plans())
def test_instalments_are_offered_in_order(plan):
    policy = AmountPolicy(PolicyKind.INSTALMENTS, instalments=plan)
    balance = sum(i.amount_fen for i in plan) + 1
    paid = 0
    for inst in plan:
        choice = payable_range(policy, balance, paid)
        assert choice == AmountChoice(inst.amount_fen, inst.amount_fen, inst.amount_fen)
        paid += check_amount(choice, inst.amount_fen)
    assert payable_range(policy, balance, paid) is None


@given(plans(), st.data())
def test_a_partly_paid_instalment_offers_its_rest(plan, data):
    policy = AmountPolicy(PolicyKind.INSTALMENTS, instalments=plan)
    total = sum(i.amount_fen for i in plan)
    paid = data.draw(st.integers(min_value=0, max_value=total - 1))
    choice = payable_range(policy, total, paid)
    cumulative, current = 0, plan[0]
    for current in plan:
        cumulative += current.amount_fen
        if paid < cumulative:
            break
    rest = cumulative - paid
    assert choice == AmountChoice(rest, rest, rest)
    assert 0 < rest <= current.amount_fen


@given(plans(), FEN)
def test_instalments_never_ask_more_than_the_balance(plan, balance):
    choice = payable_range(AmountPolicy(PolicyKind.INSTALMENTS, instalments=plan), balance, 0)
    assert choice is not None
    assert choice.max_fen == min(plan[0].amount_fen, balance)


@given(plans())
def test_instalments_out_of_order_are_refused(plan):
    assume(len(plan) >= 2)
    reordered = (*plan[1:], plan[0])
    with pytest.raises(FieldError) as exc:
        AmountPolicy(PolicyKind.INSTALMENTS, instalments=reordered)
    assert exc.value.field == "amount_policy.instalments"


def test_instalments_on_the_same_day_are_refused():
    day = date(2026, 5, 1)
    with pytest.raises(FieldError) as exc:
        AmountPolicy(PolicyKind.INSTALMENTS, instalments=(Instalment(100, day), Instalment(100, day)))
    assert exc.value.field == "amount_policy.instalments"


def test_more_than_60_instalments_are_refused():
    plan = tuple(Instalment(100, date(2026, 1, 1) + timedelta(days=n)) for n in range(61))
    with pytest.raises(FieldError) as exc:
        AmountPolicy(PolicyKind.INSTALMENTS, instalments=plan)
    assert exc.value.field == "amount_policy.instalments"


# ---- construction -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": PolicyKind.FIXED}, "amount_policy.amount"),
        ({"kind": PolicyKind.FIXED, "amount_fen": -1}, "amount_policy.amount"),
        ({"kind": PolicyKind.RANGE}, "amount_policy.min_amount"),
        ({"kind": PolicyKind.SETTLEMENT, "amount_fen": 100}, "amount_policy.settle_by"),
        ({"kind": PolicyKind.SETTLEMENT, "settle_by": date(2030, 1, 1)}, "amount_policy.amount"),
        ({"kind": PolicyKind.INSTALMENTS}, "amount_policy.instalments"),
    ],
)
def test_an_incomplete_policy_names_the_missing_field(kwargs, field):
    with pytest.raises(FieldError) as exc:
        AmountPolicy(**kwargs)
    assert exc.value.field == field


def test_only_a_settlement_offer_needs_approval():
    assert [k for k in PolicyKind if AmountPolicy(**_minimal(k)).needs_approval] == [PolicyKind.SETTLEMENT]


def _minimal(kind: PolicyKind) -> dict[str, object]:
    return {
        PolicyKind.FULL_BALANCE: {"kind": kind},
        PolicyKind.FIXED: {"kind": kind, "amount_fen": 1},
        PolicyKind.RANGE: {"kind": kind, "min_fen": 1},
        PolicyKind.INSTALMENTS: {"kind": kind, "instalments": (Instalment(1, date(2030, 1, 1)),)},
        PolicyKind.SETTLEMENT: {"kind": kind, "amount_fen": 1, "settle_by": date(2030, 1, 1)},
    }[kind]


# ---- expiry -------------------------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_expiry_defaults_to_seven_days():
    assert expiry_for(NOW, None) == NOW + timedelta(days=7)


def test_expiry_of_exactly_180_days_is_accepted():
    assert expiry_for(NOW, NOW + timedelta(days=180)) == NOW + timedelta(days=180)


@pytest.mark.parametrize(
    "requested",
    [
        NOW + timedelta(days=180, seconds=1),
        NOW,
        NOW - timedelta(seconds=1),
        NOW.replace(tzinfo=None) + timedelta(days=1),
    ],
    ids=["beyond-180-days", "now", "past", "naive"],
)
def test_a_bad_expiry_names_expires_at(requested):
    with pytest.raises(FieldError) as exc:
        expiry_for(NOW, requested)
    assert exc.value.field == "expires_at"


# ---- status table -------------------------------------------------------------------------------------


@given(st.sampled_from(LinkStatus), st.sampled_from(LinkStatus))
def test_a_transition_happens_exactly_when_the_table_allows_it(current, target):
    if target in LINK_TRANSITIONS[current]:
        assert link_transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition):
            link_transition(current, target)


def test_paid_expired_and_revoked_are_final():
    final = {s for s, targets in LINK_TRANSITIONS.items() if not targets}
    assert final == {LinkStatus.PAID, LinkStatus.EXPIRED, LinkStatus.REVOKED}


def test_a_link_waiting_for_approval_cannot_take_money():
    assert LINK_TRANSITIONS[LinkStatus.CREATED] == {LinkStatus.ACTIVE, LinkStatus.EXPIRED, LinkStatus.REVOKED}
