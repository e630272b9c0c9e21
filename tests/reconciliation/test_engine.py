"""The engine on hand-made examples: references, automatic matches, review, many cases, statuses."""

from __future__ import annotations

from datetime import timedelta

from payments.domain.allocation import AllocationPolicy
from payments.domain.cases import CaseStatus, Component
from reconciliation.config import RuleConfig
from reconciliation.decision import Outcome, Reason
from reconciliation.engine import CandidateIndex, decide, reconcile
from tests.reconciliation.factories import DAY, case, debt, payment

BALANCE = 106_000  # the default case: fees 1,000 + interest 5,000 + principal 100,000


def test_our_reference_by_link_id_applies_directly() -> None:
    d = decide(payment(our_reference="link-c1", amount_fen=50_000), CandidateIndex([case("c1")]))
    assert (d.outcome, d.reason, d.case_ids) == (Outcome.APPLY, Reason.OUR_REFERENCE, ("c1",))


def test_our_reference_by_case_id_applies_directly() -> None:
    d = decide(payment(our_reference="c1"), CandidateIndex([case("c1")]))
    assert d.case_ids == ("c1",)


def test_allocation_follows_the_waterfall_and_records_its_basis() -> None:
    d = decide(payment(our_reference="c1", amount_fen=3_000), CandidateIndex([case("c1")]))
    alloc = d.applications[0].allocation
    assert [(line.component, line.fen) for line in alloc.lines] == [
        (Component.FEES, 1_000),
        (Component.INTEREST, 2_000),
    ]
    assert alloc.basis == "civil_code_art_560_561"


def test_a_client_contract_order_is_used_and_recorded() -> None:
    contract = AllocationPolicy(
        order=(Component.PRINCIPAL, Component.INTEREST, Component.FEES), basis="contract"
    )
    d = decide(payment(our_reference="c1", amount_fen=3_000), CandidateIndex([case("c1", policy=contract)]))
    alloc = d.applications[0].allocation
    assert alloc.lines[0].component is Component.PRINCIPAL and alloc.basis == "contract"


def test_partial_payment_makes_the_case_partially_paid() -> None:
    d = decide(payment(our_reference="c1", amount_fen=10_000), CandidateIndex([case("c1")]))
    assert d.applications[0].status_after is CaseStatus.PARTIALLY_PAID


def test_overpayment_pays_the_case_and_keeps_the_surplus_flagged_for_refund() -> None:
    d = decide(payment(our_reference="c1", amount_fen=BALANCE + 500), CandidateIndex([case("c1")]))
    app = d.applications[0]
    assert app.status_after is CaseStatus.PAID
    assert app.allocation.surplus_fen == 500 and app.refund_flag
    assert d.applied_fen + d.surplus_fen == d.amount_fen


def test_offer_reached_by_its_date_settles_the_case_and_waives_the_rest() -> None:
    c = case("c1", offer_fen=70_000, settle_by=DAY)
    d = decide(payment(our_reference="c1", amount_fen=70_000), CandidateIndex([c]))
    assert d.applications[0].status_after is CaseStatus.SETTLED
    assert d.applications[0].waived_fen == BALANCE - 70_000


def test_offer_paid_late_is_a_partial_payment() -> None:
    c = case("c1", offer_fen=70_000, settle_by=DAY - timedelta(days=1))
    d = decide(payment(our_reference="c1", amount_fen=70_000), CandidateIndex([c]))
    assert d.applications[0].status_after is CaseStatus.PARTIALLY_PAID


def test_payment_to_a_case_on_hold_keeps_the_hold() -> None:
    d = decide(
        payment(our_reference="c1", amount_fen=10_000),
        CandidateIndex([case("c1", status=CaseStatus.ON_HOLD)]),
    )
    assert d.applications[0].status_after is CaseStatus.ON_HOLD


def test_case_number_and_name_apply_automatically_with_criteria() -> None:
    d = decide(
        payment(memo="还款 AJ-2024-0000c1", payer_name="张小三", amount_fen=5_000),
        CandidateIndex([case("c1")]),
    )
    assert (d.outcome, d.reason, d.case_ids) == (Outcome.APPLY, Reason.RULES, ("c1",))
    assert [c.code for c in d.candidates[0].criteria] == ["case_number", "name_exact"]


def test_guarantor_quoting_the_case_and_the_balance_applies() -> None:
    d = decide(
        payment(memo="代张小三还款 AJ-2024-0000c1", payer_name="李四", amount_fen=BALANCE),
        CandidateIndex([case("c1")]),
    )
    assert d.outcome is Outcome.APPLY


def test_case_number_alone_goes_to_review() -> None:
    d = decide(
        payment(memo="AJ-2024-0000c1", payer_name="李四", amount_fen=5_000), CandidateIndex([case("c1")])
    )
    assert (d.outcome, d.reason) == (Outcome.REVIEW, Reason.BELOW_THRESHOLD)
    assert d.candidates[0].case_ids == ("c1",)


def test_name_and_amount_alone_go_to_review() -> None:
    d = decide(payment(payer_name="张小三", amount_fen=BALANCE), CandidateIndex([case("c1")]))
    assert (d.outcome, d.reason) == (Outcome.REVIEW, Reason.BELOW_THRESHOLD)


def test_two_equally_good_cases_go_to_review() -> None:
    index = CandidateIndex([case("c1", contract_number="HT1"), case("c2", contract_number="HT1")])
    d = decide(payment(memo="HT1", payer_name="张小三"), index)
    assert d.outcome is Outcome.REVIEW and d.reason in (Reason.SEVERAL_QUALIFY, Reason.NO_MARGIN)
    assert {c.case_ids for c in d.candidates[:2]} == {("c1",), ("c2",)}


def test_a_winner_without_a_clear_margin_goes_to_review() -> None:
    index = CandidateIndex([case("c1"), case("c2", debtor_name="王五")])
    config = RuleConfig(auto_threshold=60, margin=60)
    d = decide(
        payment(memo="AJ-2024-0000c1 AJ-2024-0000c2", payer_name="张小三", amount_fen=5_000), index, config
    )
    assert d.reason is Reason.NO_MARGIN


def test_unknown_payment_has_no_candidate() -> None:
    d = decide(payment(memo="货款", payer_name="某某公司", amount_fen=777), CandidateIndex([case("c1")]))
    assert (d.outcome, d.reason, d.candidates) == (Outcome.REVIEW, Reason.NO_CANDIDATE, ())


def test_a_closed_case_is_never_applied_automatically() -> None:
    c = case("c1", status=CaseStatus.PAID, debts=(debt(),))
    d = decide(payment(memo="AJ-2024-0000c1", payer_name="张小三"), CandidateIndex([c]))
    assert (d.outcome, d.reason) == (Outcome.REVIEW, Reason.CASE_CLOSED)


def test_a_link_of_a_closed_case_points_to_the_debtors_open_case() -> None:
    closed = case("c1", status=CaseStatus.PAID, debts=(debt(),), debtor_id="d1")
    open_ = case("c2", debtor_id="d1")
    d = decide(
        payment(our_reference="link-c1", payer_name="张*三", amount_fen=BALANCE),
        CandidateIndex([closed, open_]),
    )
    assert (d.outcome, d.case_ids) == (Outcome.APPLY, ("c2",))
    assert "linked_debtor" in [c.code for c in d.candidates[0].criteria]


def test_cases_of_another_client_are_not_candidates() -> None:
    d = decide(
        payment(memo="AJ-2024-0000c1", payer_name="张小三", client_id="client-b"),
        CandidateIndex([case("c1")]),
    )
    assert d.candidates == ()


def test_one_payment_covering_a_debtors_cases_is_split_oldest_due_first() -> None:
    older = case("c2", debtor_id="d1", debts=(debt(due=DAY - timedelta(days=400), principal=40_000),))
    newer = case("c1", debtor_id="d1", debts=(debt(due=DAY - timedelta(days=100), principal=60_000),))
    d = decide(
        payment(memo="还款 AJ-2024-0000c1", payer_name="张小三", amount_fen=100_000),
        CandidateIndex([older, newer]),
    )
    assert d.outcome is Outcome.APPLY
    assert d.case_ids == ("c2", "c1")
    assert [a.allocation.applied_fen for a in d.applications] == [40_000, 60_000]
    assert all(a.status_after is CaseStatus.PAID for a in d.applications)


def test_a_group_surplus_stays_on_the_last_case() -> None:
    a = case("c1", debtor_id="d1", debts=(debt(due=DAY - timedelta(days=9), principal=40_000),))
    b = case("c2", debtor_id="d1", debts=(debt(due=DAY - timedelta(days=5), principal=60_000),))
    d = decide(
        payment(memo="AJ-2024-0000c1", payer_name="张小三", amount_fen=100_050), CandidateIndex([a, b])
    )
    assert [x.allocation.surplus_fen for x in d.applications] == [0, 50]


def test_several_payments_settle_one_case_in_a_batch() -> None:
    index = CandidateIndex([case("c1")])
    first = payment("p1", amount_fen=60_000, our_reference="c1")
    rest = payment(
        "p2",
        amount_fen=BALANCE - 60_000,
        memo="AJ-2024-0000c1",
        payer_name="张小三",
        day=DAY + timedelta(days=1),
    )
    d1, d2 = reconcile([rest, first], index)
    assert d1.applications[0].status_after is CaseStatus.PARTIALLY_PAID
    assert d2.applications[0].status_after is CaseStatus.PAID
    assert "amount_balance" in [c.code for c in d2.candidates[0].criteria]


def test_a_repeated_payment_id_is_a_duplicate() -> None:
    p = payment(our_reference="c1")
    decisions = reconcile([p, p], CandidateIndex([case("c1")]))
    assert [d.outcome for d in decisions] == [Outcome.APPLY, Outcome.DUPLICATE]


def test_a_payment_applied_in_an_earlier_run_is_a_duplicate() -> None:
    d = reconcile(
        [payment("p1", our_reference="c1")], CandidateIndex([case("c1")]), applied_payment_ids={"p1"}
    )
    assert d[0].reason is Reason.DUPLICATE_PAYMENT


def test_a_statement_line_belongs_to_one_payment() -> None:
    a = payment("p1", our_reference="c1", statement_line_id="L1", amount_fen=1_000)
    b = payment("p2", our_reference="c1", statement_line_id="L1", amount_fen=1_000)
    decisions = reconcile([b, a], CandidateIndex([case("c1")]))
    assert [(d.payment_id, d.outcome) for d in decisions] == [
        ("p1", Outcome.APPLY),
        ("p2", Outcome.DUPLICATE),
    ]
    assert decisions[1].reason is Reason.STATEMENT_LINE_TAKEN


def test_a_statement_line_taken_earlier_is_refused() -> None:
    a = payment("p1", our_reference="c1", statement_line_id="L1")
    assert (
        reconcile([a], CandidateIndex([case("c1")]), taken_statement_lines={"L1"})[0].outcome
        is Outcome.DUPLICATE
    )


def test_dry_run_changes_nothing() -> None:
    c = case("c1")
    index = CandidateIndex([c])
    reconcile([payment(our_reference="c1")], index)
    assert index.cases[0] == c
    assert decide(payment("p2", our_reference="c1"), index).applications[0].status_before is CaseStatus.OPEN


def test_review_lists_at_most_max_candidates() -> None:
    cases = [case(f"c{i}", debtor_id=f"d{i}") for i in range(9)]
    d = decide(
        payment(payer_name="张小三", amount_fen=BALANCE), CandidateIndex(cases), RuleConfig(max_candidates=3)
    )
    assert len(d.candidates) == 3


def test_repr_of_facts_masks_the_name() -> None:
    assert "小" not in repr(case("c1")) and "小" not in repr(payment(payer_name="张小三"))


def test_a_memo_number_one_typo_from_another_debtors_equally_fitting_case_goes_to_review() -> None:
    # The payer 张小三 quotes AJ-2024-000124, which is 王五's case; 张小三's own case is ...123.
    mine = case("c1", case_number="AJ-2024-000123")
    other = case("c2", case_number="AJ-2024-000124", debtor_name="张小三")
    d = decide(
        payment(memo="还款 AJ-2024-000124", payer_name="张小三", amount_fen=5_000),
        CandidateIndex([mine, other]),
    )
    assert (d.outcome, d.reason) == (Outcome.REVIEW, Reason.POSSIBLE_TYPO)


def test_a_typo_neighbour_that_fits_less_is_no_rival() -> None:
    mine = case("c1", case_number="AJ-2024-000123")
    other = case("c2", case_number="AJ-2024-000124", debtor_name="王五")
    d = decide(
        payment(memo="还款 AJ-2024-000123", payer_name="张小三", amount_fen=5_000),
        CandidateIndex([mine, other]),
    )
    assert (d.outcome, d.case_ids) == (Outcome.APPLY, ("c1",))


def test_the_debtors_own_case_one_typo_away_does_not_block_the_named_case() -> None:
    named = case("c1", debtor_id="d1", case_number="AJ-2024-000123")
    sibling = case("c2", debtor_id="d1", case_number="AJ-2024-000124")
    d = decide(
        payment(memo="AJ-2024-000123", payer_name="张小三", amount_fen=5_000),
        CandidateIndex([named, sibling]),
    )
    assert (d.outcome, d.case_ids) == (Outcome.APPLY, ("c1",))


def test_a_typo_finds_the_case_when_the_name_corroborates_it() -> None:
    mine = case("c1", case_number="AJ-2024-000123", debtor_name="欧阳小明")
    d = decide(
        payment(memo="AJ-2024-000132", payer_name="欧阳小明", amount_fen=BALANCE), CandidateIndex([mine])
    )
    assert d.candidates[0].case_ids == ("c1",)
    assert [c.code for c in d.candidates[0].criteria] == ["near_reference", "name_exact", "amount_balance"]


def test_uncorroborated_typo_neighbours_are_not_suggested() -> None:
    cases = [
        case(f"c{i}", case_number=f"AJ-2024-00012{i}", debtor_name="王五", debtor_id=f"d{i}")
        for i in range(5)
    ]
    d = decide(payment(memo="AJ-2024-000129", payer_name="李四", amount_fen=777), CandidateIndex(cases))
    assert d.candidates == ()


def test_a_mask_showing_one_character_with_the_case_number_goes_to_review() -> None:
    d = decide(
        payment(memo="AJ-2024-0000c1", payer_name="张*", amount_fen=5_000), CandidateIndex([case("c1")])
    )
    assert (d.outcome, d.reason) == (Outcome.REVIEW, Reason.BELOW_THRESHOLD)


def test_paying_exactly_two_of_three_cases_applies_to_those_two() -> None:
    a = case("c1", debtor_id="d1", debts=(debt(due=DAY - timedelta(days=9), principal=40_000),))
    b = case("c2", debtor_id="d1", debts=(debt(due=DAY - timedelta(days=5), principal=60_000),))
    c = case("c3", debtor_id="d1", debts=(debt(due=DAY - timedelta(days=1), principal=90_000),))
    d = decide(
        payment(memo="AJ-2024-0000c1", payer_name="张小三", amount_fen=100_000), CandidateIndex([a, b, c])
    )
    assert (d.outcome, d.case_ids) == (Outcome.APPLY, ("c1", "c2"))


def test_more_than_the_named_case_owes_with_other_open_cases_goes_to_review() -> None:
    a = case("c1", debtor_id="d1")
    b = case("c2", debtor_id="d1")
    d = decide(
        payment(memo="AJ-2024-0000c1", payer_name="张小三", amount_fen=BALANCE + 20_000),
        CandidateIndex([a, b]),
    )
    assert d.outcome is Outcome.REVIEW
