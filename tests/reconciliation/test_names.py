"""Name normalisation and matching: how payer names on statements are compared with debtor names."""

from __future__ import annotations

from reconciliation.names import (
    NameMatch,
    PayerName,
    clean,
    compare_names,
    is_masked,
    latin_forms,
    mask_keys,
    mask_matches,
    mask_reveals_enough,
    pattern_mask_key,
    pinyin_keys,
    simplified,
)


def test_clean_strips_spaces_and_punctuation() -> None:
    assert clean(" 张 小三 ") == "张小三"
    assert clean("阿卜杜·艾力") == "阿卜杜艾力"


def test_clean_turns_full_width_into_half_width_lower_case() -> None:
    assert clean("ＺＨＡＮＧ　ＳＡＮ") == "zhangsan"


def test_clean_keeps_the_mask_star_including_full_width() -> None:
    assert clean("张＊三") == "张*三"


def test_simplified_converts_traditional_characters() -> None:
    assert simplified("張曉明") == "张晓明"
    assert simplified("歐陽靜") == "欧阳静"


def test_simplified_leaves_latin_alone() -> None:
    assert simplified("Zhang San") == "zhangsan"


def test_pinyin_keys_are_toneless_and_joined() -> None:
    assert "zhangxiaosan" in pinyin_keys("张小三")


def test_pinyin_keys_of_traditional_equal_those_of_simplified() -> None:
    assert pinyin_keys("張曉明") == pinyin_keys("张晓明")


def test_pinyin_keys_include_surname_readings_of_heteronyms() -> None:
    assert "shanxiongxin" in pinyin_keys("单雄信")
    assert "zengguofan" in pinyin_keys("曾国藩")


def test_pinyin_keys_offer_u_for_u_umlaut() -> None:
    keys = pinyin_keys("吕布")
    assert {"lvbu", "lubu"} <= keys


def test_pinyin_keys_are_capped() -> None:
    assert len(pinyin_keys("乐长行朝重单")) <= 8


def test_latin_forms_cover_both_name_orders() -> None:
    assert latin_forms("Xiaosan Zhang") == {"xiaosanzhang", "zhangxiaosan"}


def test_latin_forms_of_chinese_text_are_empty() -> None:
    assert latin_forms("张三") == frozenset()


def test_is_masked() -> None:
    assert is_masked("张*三")
    assert not is_masked("张小三")


def test_mask_with_one_star_per_hidden_character_matches() -> None:
    assert mask_matches("张*三", "张小三")
    assert mask_matches("欧**明", "欧阳小明")


def test_mask_with_a_single_star_may_hide_several_characters() -> None:
    assert mask_matches("张*三", "张小小三")


def test_mask_with_wrong_visible_characters_does_not_match() -> None:
    assert not mask_matches("张*四", "张小三")
    assert not mask_matches("李*三", "张小三")


def test_mask_with_hidden_surname_matches_on_the_given_name() -> None:
    assert mask_matches("*三", "张三")


def test_mask_with_nothing_visible_matches_nobody() -> None:
    assert not mask_matches("***", "张小三")


def test_mask_in_traditional_characters_matches_simplified_name() -> None:
    assert mask_matches("張*三", "张小三")


def test_latin_mask_matches_the_pinyin() -> None:
    assert mask_matches("Z**N", "张三")  # ZHANGSAN: Z, hidden letters, N
    assert mask_matches("ZHANG S*N", "张三")
    assert not mask_matches("L**N", "张三")


def test_exact_name() -> None:
    assert compare_names("张 小三", "张小三") is NameMatch.EXACT


def test_traditional_name_is_converted() -> None:
    assert compare_names("張小三", "张小三") is NameMatch.CONVERTED


def test_pinyin_name_either_order() -> None:
    assert compare_names("ZHANG XIAOSAN", "张小三") is NameMatch.PINYIN
    assert compare_names("Xiaosan Zhang", "张小三") is NameMatch.PINYIN
    assert compare_names("zhang xiao san", "张小三") is NameMatch.PINYIN


def test_full_width_pinyin_name() -> None:
    assert compare_names("ＺＨＡＮＧ　ＸＩＡＯＳＡＮ", "张小三") is NameMatch.PINYIN


def test_homophone_in_characters_matches_in_pinyin() -> None:
    assert compare_names("张晓三", "张小三") is NameMatch.PINYIN


def test_different_name_does_not_match() -> None:
    assert compare_names("李四", "张小三") is NameMatch.NONE
    assert compare_names("Li Si", "张小三") is NameMatch.NONE


def test_empty_payer_name_does_not_match() -> None:
    assert compare_names("", "张小三") is NameMatch.NONE
    assert compare_names(None, "张小三") is NameMatch.NONE


def test_payer_name_repr_does_not_show_the_name() -> None:
    assert "小三" not in repr(PayerName.of("张小三"))


def test_mask_keys_are_first_and_last_character() -> None:
    assert mask_keys("张小三") == ("张三",)
    assert pattern_mask_key("张*三") == "张三"


def test_pattern_mask_key_is_none_when_an_end_is_hidden() -> None:
    assert pattern_mask_key("*三") is None
    assert pattern_mask_key("张*") is None
    assert pattern_mask_key("Z**N") is None


def test_mask_showing_two_characters_is_a_masked_match() -> None:
    assert compare_names("张*三", "张小三") is NameMatch.MASKED


def test_mask_showing_one_character_is_only_a_hint() -> None:
    assert compare_names("张*", "张三") is NameMatch.MASK_HINT
    assert compare_names("*三", "张小三") is NameMatch.MASK_HINT
    assert compare_names("Z**N", "张三") is NameMatch.MASK_HINT


def test_latin_mask_showing_four_letters_is_a_masked_match() -> None:
    assert compare_names("ZHANG S*N", "张三") is NameMatch.MASKED


def test_mask_reveals_enough() -> None:
    assert mask_reveals_enough("张*三")
    assert not mask_reveals_enough("张*")
    assert not mask_reveals_enough("Z**N")


def test_pinyin_keys_skip_readings_nobody_gives_a_name() -> None:
    assert pinyin_keys("王明") == {"wangming"}
