"""Debtor identity: GB 11643 resident ID numbers, mainland mobile numbers, names, and masking."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.errors import FieldError
from payments.domain.identity import (
    Debtor,
    id_check_digit,
    mask_id_number,
    mask_name,
    mask_phone,
    normalise_id_number,
    normalise_mobile,
    normalise_name,
)

CHECK_CHARS = "0123456789X"


@st.composite
def id_bodies(draw: st.DrawFn) -> str:
    """The first 17 characters of a resident ID: region (no leading 0), birth date, sequence."""
    region = draw(st.integers(min_value=100_000, max_value=999_999))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    sequence = draw(st.integers(min_value=0, max_value=999))
    return f"{region}{born:%Y%m%d}{sequence:03d}"


@st.composite
def valid_ids(draw: st.DrawFn) -> str:
    body = draw(id_bodies())
    return body + id_check_digit(body)


@st.composite
def valid_mobiles(draw: st.DrawFn) -> str:
    second = draw(st.sampled_from("3456789"))
    rest = draw(st.integers(min_value=0, max_value=999_999_999))
    return f"1{second}{rest:09d}"


# --- id_check_digit -------------------------------------------------------------------------------


def test_id_check_digit_matches_the_gb_11643_published_example() -> None:
    # The example printed in GB 11643-1999: 11010519491231002X.
    assert id_check_digit("11010519491231002") == "X"


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("11010120000229123", "X"),
        ("11010119000228123", "8"),
        ("44030419900101001", "1"),
    ],
)
def test_id_check_digit_is_weighted_sum_mod_11(body: str, check: str) -> None:
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    remainder = sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11
    assert CHECK_CHARS[(12 - remainder) % 11] == check
    assert id_check_digit(body) == check


@given(id_bodies())
def test_id_check_digit_equals_iso_7064_mod_11_2(body: str) -> None:
    # ISO 7064 MOD 11-2, computed independently: the full 18 characters weigh to 1 mod 11.
    weights = [2 ** (17 - i) % 11 for i in range(18)]
    check = id_check_digit(body)
    value = 10 if check == "X" else int(check)
    digits = [int(d) for d in body] + [value]
    assert sum(d * w for d, w in zip(digits, weights, strict=True)) % 11 == 1


# --- normalise_id_number --------------------------------------------------------------------------


@given(valid_ids())
def test_valid_resident_id_is_accepted_unchanged(value: str) -> None:
    assert normalise_id_number(value) == value


def test_published_example_id_is_accepted() -> None:
    assert normalise_id_number("11010519491231002X") == "11010519491231002X"


def test_lower_case_x_check_digit_is_normalised_to_upper_case() -> None:
    assert normalise_id_number("11010519491231002x") == "11010519491231002X"


@given(valid_ids())
def test_lower_cased_valid_id_normalises_to_upper_case(value: str) -> None:
    assert normalise_id_number(value.lower()) == value


@given(id_bodies(), st.sampled_from(CHECK_CHARS))
def test_wrong_check_digit_is_refused(body: str, check: str) -> None:
    if check == id_check_digit(body):
        check = CHECK_CHARS[(CHECK_CHARS.index(check) + 1) % 11]
    with pytest.raises(FieldError) as info:
        normalise_id_number(body + check, "debtor.id_number")
    assert info.value.field == "debtor.id_number"
    assert info.value.message == "check digit does not match (GB 11643)"


@given(valid_ids(), st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=9))
def test_single_digit_typo_in_body_is_refused(value: str, position: int, delta: int) -> None:
    # GB 11643 detects every single-digit substitution (weights are all non-zero mod 11).
    typo = str((int(value[position]) + delta) % 10)
    changed = value[:position] + typo + value[position + 1 :]
    with pytest.raises(FieldError):
        normalise_id_number(changed)


@pytest.mark.parametrize(
    "birth",
    [
        "19900230",  # 30 February
        "19900229",  # 29 February in a common year
        "19000229",  # 1900 was not a leap year
        "19901301",  # month 13
        "19900001",  # month 0
        "19900100",  # day 0
        "19900431",  # 31 April
        "19900132",  # day 32
        "00000101",  # year 0
    ],
)
def test_impossible_birth_date_is_refused_even_with_correct_check_digit(birth: str) -> None:
    body = f"110101{birth}123"
    with pytest.raises(FieldError) as info:
        normalise_id_number(body + id_check_digit(body), "debtor.id_number")
    assert info.value.field == "debtor.id_number"
    assert info.value.message == "contains an impossible date of birth"


def test_leap_day_in_leap_year_is_accepted() -> None:
    body = "11010120000229123"
    assert normalise_id_number(body + "X") == body + "X"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "11010519491231002",  # 17 characters
        "11010519491231002XX",  # 19 characters
        "01010519491231002X",  # region starts with 0
        "11010519491231002Y",
        "1101051949123100X2",  # X not last
        " 11010519491231002X",
        "11010519491231002X ",
        "110105 19491231002X",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width
        "110105194912310",  # old 15-digit form
    ],
)
def test_malformed_id_number_is_refused(value: str) -> None:
    with pytest.raises(FieldError) as info:
        normalise_id_number(value)
    assert info.value.field == "debtor.id_number"
    assert info.value.message == "must be an 18-character resident ID number"


@pytest.mark.parametrize("value", [None, 11010519491231002, ["11010519491231002X"], b"11010519491231002X"])
def test_non_string_id_number_is_refused(value: object) -> None:
    with pytest.raises(FieldError) as info:
        normalise_id_number(value, "id")
    assert info.value.field == "id"


def test_id_number_error_does_not_echo_the_value() -> None:
    with pytest.raises(FieldError) as info:
        normalise_id_number("110105194912310021")
    assert "110105194912310021" not in str(info.value)


# --- normalise_mobile -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+8613812345678",
        "8613812345678",
        "+86 138 1234 5678",
        "+86 13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86-138-1234-5678",
        " 13812345678 ",
    ],
)
def test_mobile_with_country_code_spaces_or_dashes_is_normalised_to_11_digits(raw: str) -> None:
    assert normalise_mobile(raw) == "13812345678"


@given(valid_mobiles())
def test_every_11_digit_number_starting_13_to_19_is_accepted(value: str) -> None:
    assert normalise_mobile(value) == value


@given(valid_mobiles())
def test_plus_86_prefix_is_stripped(value: str) -> None:
    assert normalise_mobile("+86" + value) == value


@pytest.mark.parametrize(
    "raw",
    [
        "01012345678",  # Beijing landline, 11 digits
        "010-12345678",
        "(010)12345678",
        "02112345678",
        "12345678",
        "138123456789",  # 12 digits
        "013812345678",  # trunk prefix 0 before a mobile
        "1381234567",  # 10 digits
        "12812345678",  # starts 12
        "10812345678",  # starts 10
        "11812345678",  # starts 11
        "+8612812345678",
        "+13812345678",  # + without 86
        "+85213812345678",  # Hong Kong code
        "0086 13812345678",
        "",
        "1381234567a",
        "１３８１２３４５６７８",  # full-width digits
        "138\t1234\t5678",
    ],
)
def test_non_mobile_number_is_refused(raw: str) -> None:
    with pytest.raises(FieldError) as info:
        normalise_mobile(raw, "debtor.phone")
    assert info.value.field == "debtor.phone"


@given(st.integers(min_value=10**11, max_value=10**12 - 1))
def test_any_12_digit_number_is_refused(value: int) -> None:
    with pytest.raises(FieldError):
        normalise_mobile(str(value))


@given(st.integers(min_value=0, max_value=10**9 - 1))
def test_any_number_starting_12_is_refused(rest: int) -> None:
    with pytest.raises(FieldError):
        normalise_mobile(f"12{rest:09d}")


@pytest.mark.parametrize("value", [None, 13812345678])
def test_non_string_mobile_is_refused(value: object) -> None:
    with pytest.raises(FieldError) as info:
        normalise_mobile(value)
    assert info.value.field == "debtor.phone"


# --- normalise_name -------------------------------------------------------------------------------


def test_name_is_stripped() -> None:
    assert normalise_name("  张三 ") == "张三"


@pytest.mark.parametrize("raw", ["", "   ", None, 1])
def test_empty_or_non_string_name_is_refused(raw: object) -> None:
    with pytest.raises(FieldError) as info:
        normalise_name(raw)
    assert info.value.field == "debtor.name"


def test_name_of_64_characters_is_accepted() -> None:
    assert normalise_name("张" * 64) == "张" * 64


def test_name_longer_than_64_characters_is_refused() -> None:
    with pytest.raises(FieldError):
        normalise_name("张" * 65)


@pytest.mark.parametrize("raw", ["张\x00三", "张\n三", "张\x1b三"])
def test_name_with_control_characters_is_refused(raw: str) -> None:
    with pytest.raises(FieldError):
        normalise_name(raw)


# --- masking --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张小三", "张*三"),
        ("欧阳小明", "欧**明"),
        ("张", "张*"),
        ("Li Lei", "L* L**"),
        ("", ""),
    ],
)
def test_mask_name_exact(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_id_number_keeps_region_prefix_and_last_four() -> None:
    assert mask_id_number("110101199003071234") == "1101**********1234"


@given(valid_ids())
def test_mask_id_number_hides_the_birth_date(value: str) -> None:
    masked = mask_id_number(value)
    assert masked == value[:4] + "*" * 10 + value[-4:]
    assert value[6:14] not in masked


@pytest.mark.parametrize("value", ["", "1", "1234567"])
def test_mask_id_number_stars_every_character_of_a_short_value(value: str) -> None:
    assert mask_id_number(value) == "*" * len(value)


def test_mask_phone_keeps_first_three_and_last_four() -> None:
    assert mask_phone("13812345678") == "138****5678"


@pytest.mark.parametrize("value", ["", "1", "123456"])
def test_mask_phone_stars_every_character_of_a_short_value(value: str) -> None:
    assert mask_phone(value) == "*" * len(value)


# --- Debtor ---------------------------------------------------------------------------------------

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


def test_debtor_masked_gives_all_three_masks() -> None:
    debtor = Debtor("张小三", "11010519491231002X", "13812345678")
    assert debtor.masked == {"name": "张*三", "id_number": "1101**********002X", "phone": "138****5678"}


def test_debtor_repr_shows_masks_only() -> None:
    debtor = Debtor("张小三", "11010519491231002X", "13812345678")
    assert repr(debtor) == "Debtor(name='张*三', id_number='1101**********002X', phone='138****5678')"


@given(st.text(CJK, min_size=2, max_size=4), valid_ids(), valid_mobiles())
def test_debtor_repr_never_contains_plain_values(name: str, id_number: str, phone: str) -> None:
    debtor = Debtor(name, id_number, phone)
    for text in (repr(debtor), str(debtor), f"{debtor}", repr([debtor]), repr({"d": debtor})):
        assert name not in text
        assert id_number not in text
        assert phone not in text
        assert id_number[6:14] not in text  # birth date
