"""Each matching criterion on its own, and the configuration that weighs them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from payments.domain.links import Instalment
from reconciliation.config import Rule, RuleConfig
from reconciliation.engine import applicable, score
from reconciliation.index import near_variants
from reconciliation.rules import (
    Code,
    Evidence,
    Tolerance,
    account_paid_before,
    amount_equals_balance,
    amount_equals_instalment,
    amount_equals_total,
    amount_meets_offer,
    compact_reference,
    fires,
    last4_tokens,
    memo_has_last4,
    memo_has_near_reference,
    memo_has_reference,
    memo_tokens,
    near_expected_date,
    one_edit_apart,
    within,
)
from tests.reconciliation.factories import DAY, case, payment


def ev(memo: str = "", payer: str = "", amount: int = 106_000, **kw: object) -> Evidence:
    return Evidence.of(payment(memo=memo, payer_name=payer, amount_fen=amount, **kw))  # type: ignore[arg-type]


# --- memo references ---------------------------------------------------------------------------------


def test_compact_reference_drops_separators_and_width() -> None:
    assert compact_reference("aj-2024/000123") == "AJ2024000123"
    assert compact_reference("ＡＪ－２０２４－０００１２３") == "AJ2024000123"


def test_memo_tokens_are_compacted_letter_digit_runs() -> None:
    assert memo_tokens("还款 案件号:AJ-2024-000123 谢谢") == {"AJ2024000123"}


def test_case_number_in_memo_fires() -> None:
    assert memo_has_reference(ev("还款AJ-2024-000123"), "AJ-2024-000123")


def test_case_number_written_without_separators_fires() -> None:
    assert memo_has_reference(ev("AJ2024000123"), "AJ-2024-000123")


def test_case_number_glued_to_latin_text_fires_when_long() -> None:
    assert memo_has_reference(ev("AJ2024000123ZHANGSAN"), "AJ-2024-000123")


def test_short_reference_must_be_a_whole_token() -> None:
    assert not memo_has_reference(ev("12345"), "1234")


def test_other_case_number_does_not_fire() -> None:
    assert not memo_has_reference(ev("AJ-2024-000124"), "AJ-2024-000123")


def test_empty_reference_never_fires() -> None:
    assert not memo_has_reference(ev("anything"), "")


def test_one_edit_apart_covers_substitution_insertion_deletion_and_swap() -> None:
    assert one_edit_apart("AJ2024000123", "AJ2024000124")
    assert one_edit_apart("AJ2024000123", "AJ20240001123")
    assert one_edit_apart("AJ2024000123", "AJ202400023")
    assert one_edit_apart("AJ2024000123", "AJ2024000213")
    assert not one_edit_apart("AJ2024000123", "AJ2024000321")
    assert not one_edit_apart("AJ2024000123", "AJ2024000123")


def test_near_reference_fires_on_a_typo() -> None:
    assert memo_has_near_reference(ev("还款 AJ-2024-000132"), "AJ-2024-000123")


def test_near_reference_ignores_short_references() -> None:
    assert not memo_has_near_reference(ev("12346"), "12345")


def test_last4_tokens_take_tails_of_phone_and_id_numbers() -> None:
    tokens = memo_tokens("手机13812345678 身份证11010119900101123X 尾号9876")
    assert last4_tokens(tokens) == {"5678", "123X", "9876"}


def test_id_last4_in_memo_fires() -> None:
    assert memo_has_last4(ev("身份证尾号123x"), "123X")


def test_id_last4_absent_does_not_fire() -> None:
    assert not memo_has_last4(ev("还款"), "1234")


# --- amounts -----------------------------------------------------------------------------------------


def test_tolerance_fixed() -> None:
    assert within(10_050, 10_000, Tolerance(fixed_fen=50))
    assert not within(10_051, 10_000, Tolerance(fixed_fen=50))


def test_tolerance_percent_in_basis_points() -> None:
    assert within(10_100, 10_000, Tolerance(percent_bp=100))
    assert not within(10_101, 10_000, Tolerance(percent_bp=100))


def test_tolerance_is_one_kind_and_integer() -> None:
    with pytest.raises(ValueError):
        Tolerance(fixed_fen=1, percent_bp=1)
    with pytest.raises(TypeError):
        Tolerance(percent_bp=0.5)  # type: ignore[arg-type]


def test_zero_target_never_matches() -> None:
    assert not within(0, 0, Tolerance(fixed_fen=100))


def test_amount_equals_balance() -> None:
    assert amount_equals_balance(106_000, case(), Tolerance())
    assert not amount_equals_balance(105_999, case(), Tolerance())


def test_amount_equals_instalment() -> None:
    c = case(instalments=(Instalment(30_000, DAY), Instalment(76_000, DAY + timedelta(days=30))))
    assert amount_equals_instalment(30_000, c, Tolerance())
    assert not amount_equals_instalment(31_000, c, Tolerance())


def test_amount_meets_offer_in_time() -> None:
    c = case(offer_fen=80_000, settle_by=DAY, offer_paid_fen=20_000)
    assert amount_meets_offer(60_000, DAY, c, Tolerance())


def test_amount_meets_offer_too_late_does_not_fire() -> None:
    c = case(offer_fen=80_000, settle_by=DAY)
    assert not amount_meets_offer(80_000, DAY + timedelta(days=1), c, Tolerance())


def test_amount_equals_total_of_several_cases() -> None:
    assert amount_equals_total(212_000, [case("c1"), case("c2")], Tolerance())


# --- dates and accounts --------------------------------------------------------------------------------


def test_near_an_instalment_due_date() -> None:
    c = case(instalments=(Instalment(30_000, date(2025, 3, 15)),))
    assert near_expected_date(DAY, c, 7)
    assert not near_expected_date(DAY, c, 4)


def test_near_a_promised_date() -> None:
    assert near_expected_date(DAY, case(promised_dates=(DAY,)), 0)


def test_account_paid_before() -> None:
    assert account_paid_before(
        ev(payer_account="6222000011112222"), case(payer_accounts=("6222000011112222",))
    )
    assert not account_paid_before(ev(), case(payer_accounts=("6222000011112222",)))


# --- names through the rule dispatcher ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("payer", "code"),
    [
        ("张小三", Code.NAME_EXACT),
        ("張小三", Code.NAME_CONVERTED),
        ("Zhang Xiaosan", Code.NAME_PINYIN),
        ("张*三", Code.NAME_MASKED),
    ],
)
def test_each_name_form_fires_its_own_rule(payer: str, code: Code) -> None:
    assert fires(code, Tolerance(), 7, ev(payer=payer), [case()])


def test_a_name_form_fires_only_its_own_rule() -> None:
    assert not fires(Code.NAME_EXACT, Tolerance(), 7, ev(payer="張小三"), [case()])


def test_linked_debtor_fires_for_the_same_client_and_debtor() -> None:
    e = Evidence.of(payment(), ("client-a", "d-c1"))
    assert fires(Code.LINKED_DEBTOR, Tolerance(), 7, e, [case("c1")])
    assert not fires(Code.LINKED_DEBTOR, Tolerance(), 7, e, [case("c2")])


def test_single_case_amount_rules_do_not_fire_for_a_group() -> None:
    assert not fires(Code.AMOUNT_BALANCE, Tolerance(), 7, ev(amount=106_000), [case("c1"), case("c2")])


# --- scoring and configuration -------------------------------------------------------------------------


def test_score_sums_weights_and_lists_criteria_in_rule_order() -> None:
    total, criteria = score(
        ev("还款 AJ-2024-000001", payer="张小三"), [case("c1", case_number="AJ-2024-000001")], RuleConfig()
    )
    assert [c.code for c in criteria] == ["case_number", "name_exact", "amount_balance"]
    assert total == 55 + 35 + 25


def test_only_the_first_rule_of_a_family_counts() -> None:
    c = case("c1", case_number="AJ1", contract_number="HT1")
    _, criteria = score(ev("AJ1 HT1"), [c], RuleConfig())
    assert [x.code for x in criteria if x.code in ("case_number", "contract_number")] == ["case_number"]


def test_rule_order_decides_which_family_member_counts() -> None:
    c = case("c1", case_number="AJ1", contract_number="HT1")
    config = RuleConfig(rules=(Rule(Code.CONTRACT_NUMBER, 50), Rule(Code.CASE_NUMBER, 60)))
    total, criteria = score(ev("AJ1 HT1"), [c], config)
    assert (total, [x.code for x in criteria]) == (50, ["contract_number"])


def test_criteria_carry_english_and_chinese_labels() -> None:
    _, criteria = score(ev(payer="Zhang Xiaosan", amount=1), [case()], RuleConfig())
    assert criteria[0].label == "name matches in pinyin / 姓名拼音一致"


def test_rule_codes_may_come_from_settings_as_strings() -> None:
    assert Rule("name_exact", 10).code is Code.NAME_EXACT  # type: ignore[arg-type]


def test_config_refuses_duplicate_rules_and_bad_numbers() -> None:
    with pytest.raises(ValueError):
        RuleConfig(rules=(Rule(Code.CASE_NUMBER, 1), Rule(Code.CASE_NUMBER, 2)))
    with pytest.raises(ValueError):
        RuleConfig(auto_threshold=0)
    with pytest.raises(ValueError):
        Rule(Code.CASE_NUMBER, -1)
    with pytest.raises(ValueError):
        Rule("no_such_rule", 1)  # type: ignore[arg-type]


def test_applicable_drops_rules_the_payment_cannot_fire() -> None:
    codes = {r.code for r in applicable(RuleConfig().rules, ev(memo="", payer=""))}
    assert Code.CASE_NUMBER not in codes and Code.NAME_EXACT not in codes and Code.ID_LAST4 not in codes
    assert Code.AMOUNT_BALANCE in codes


def test_near_variants_cover_one_edit() -> None:
    variants = set(near_variants("AJ2024000123"))
    assert {"AJ2024000124", "AJ2024000132", "AJ202400123", "AJ20240001235"} <= variants
    assert "AJ2024000123" not in variants


def test_near_variants_skip_short_or_digitless_tokens() -> None:
    assert list(near_variants("12345")) == []
    assert list(near_variants("REPAYMENT")) == []
