"""Money: integer fen, strict yuan parsing at the edge, no floats, one currency per sum."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain import money
from payments.domain.errors import FieldError, FieldProblem
from payments.domain.money import MAX_FEN, Money, check_currency, check_fen, format_yuan, parse_yuan

# --- parse_yuan: accepted -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("1234.50", 123450),
        ("1234.5", 123450),
        ("0.01", 1),
        ("0.1", 10),
        ("1", 100),
        ("1.00", 100),
        ("10", 1000),
        ("99.99", 9999),
        ("10000000000", MAX_FEN),
        ("10000000000.00", MAX_FEN),
        ("9999999999.99", MAX_FEN - 1),
    ],
)
def test_parse_yuan_accepts_plain_amount_and_returns_exact_fen(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


def test_parse_yuan_returns_an_int_not_a_decimal() -> None:
    assert type(parse_yuan("1234.50")) is int


@pytest.mark.parametrize("text", ["0", "0.0", "0.00"])
def test_parse_yuan_accepts_zero_when_allowed(text: str) -> None:
    assert parse_yuan(text, allow_zero=True) == 0


@given(whole=st.integers(min_value=0, max_value=MAX_FEN // 100 - 1), cents=st.integers(0, 99))
def test_parse_yuan_of_two_decimal_string_equals_whole_times_100_plus_cents(whole: int, cents: int) -> None:
    fen = whole * 100 + cents
    if fen == 0:
        return
    assert parse_yuan(f"{whole}.{cents:02d}") == fen


@given(whole=st.integers(min_value=0, max_value=MAX_FEN // 100 - 1), tenths=st.integers(1, 9))
def test_parse_yuan_of_one_decimal_string_means_tenths_of_a_yuan(whole: int, tenths: int) -> None:
    assert parse_yuan(f"{whole}.{tenths}") == whole * 100 + tenths * 10


# --- parse_yuan: refused --------------------------------------------------------------------------

REFUSED_STRINGS = [
    "12.345",  # more than two decimals
    "0.001",
    "1.000",
    "-1",  # negative
    "-0.01",
    "+1",  # sign
    "0",  # zero (not allowed by default)
    "0.00",
    "0.0",
    "1e3",  # exponent
    "1E3",
    "1.5e2",
    "NaN",
    "nan",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    " 12",  # whitespace
    "12 ",
    "1 2",
    "12\n",
    "\t12",
    "1,000.00",  # thousands separator
    "1_000",  # Python digit separator
    "",
    ".5",
    "5.",
    "01",  # leading zero
    "00.50",
    "1.2.3",
    "１２",  # full-width digits
    "١٢",  # Arabic-Indic digits
    "0x10",
    "12元",
    "¥12",
    "10000000000.01",  # one fen above MAX_FEN
    "99999999999.99",
    "999999999999.99",
    "1000000000000",  # 13 whole digits
    "92233720368547758.08",  # 2**63 fen
]


@pytest.mark.parametrize("text", REFUSED_STRINGS)
def test_parse_yuan_refuses_malformed_or_out_of_range_string_with_field_error(text: str) -> None:
    with pytest.raises(FieldError):
        parse_yuan(text)


@pytest.mark.parametrize("text", REFUSED_STRINGS)
def test_parse_yuan_field_error_names_the_given_field(text: str) -> None:
    with pytest.raises(FieldError) as info:
        parse_yuan(text, "payment.amount")
    assert info.value.field == "payment.amount"
    assert [p.field for p in info.value.problems] == ["payment.amount"]
    assert info.value.detail.startswith("payment.amount: ")


@pytest.mark.parametrize("value", [1.5, 1.0, 100, 0, True, None, b"1.00", ["1.00"], {"yuan": "1"}])
def test_parse_yuan_refuses_non_string_input(value: object) -> None:
    with pytest.raises(FieldError) as info:
        parse_yuan(value, "amount")
    assert info.value.field == "amount"


def test_parse_yuan_default_field_name_is_amount() -> None:
    with pytest.raises(FieldError) as info:
        parse_yuan("12.345")
    assert info.value.field == "amount"


def test_parse_yuan_refuses_zero_with_message_saying_greater_than_zero() -> None:
    with pytest.raises(FieldError) as info:
        parse_yuan("0", "amount")
    assert info.value.message == "must be greater than zero"


def test_parse_yuan_refuses_above_max_even_when_zero_allowed() -> None:
    with pytest.raises(FieldError):
        parse_yuan("10000000000.01", allow_zero=True)


def test_field_error_is_a_422_validation_error() -> None:
    with pytest.raises(FieldError) as info:
        parse_yuan("-1")
    assert info.value.status == 422
    assert info.value.type_slug == "validation-error"
    assert info.value.problems == [FieldProblem("amount", info.value.message)]


@given(st.integers(min_value=1, max_value=MAX_FEN // 100), st.integers(min_value=0, max_value=999))
def test_parse_yuan_refuses_any_three_decimal_string(whole: int, thousandths: int) -> None:
    with pytest.raises(FieldError):
        parse_yuan(f"{whole}.{thousandths:03d}")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_parse_yuan_refuses_every_float(value: float) -> None:
    with pytest.raises(FieldError):
        parse_yuan(value)


# --- check_fen ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fen", [1, 100, 123450, MAX_FEN])
def test_check_fen_accepts_positive_int_up_to_max(fen: int) -> None:
    assert check_fen(fen) == fen


def test_check_fen_accepts_zero_when_allowed() -> None:
    assert check_fen(0, allow_zero=True) == 0


def test_check_fen_refuses_zero_by_default() -> None:
    with pytest.raises(FieldError) as info:
        check_fen(0, "amount_fen")
    assert info.value.field == "amount_fen"


@pytest.mark.parametrize("allow_zero", [False, True])
def test_check_fen_refuses_negative(allow_zero: bool) -> None:
    with pytest.raises(FieldError):
        check_fen(-1, allow_zero=allow_zero)


@pytest.mark.parametrize("fen", [MAX_FEN + 1, 2**63 - 1, 2**63, 2**64, 10**30])
def test_check_fen_refuses_amount_above_max_fen(fen: int) -> None:
    with pytest.raises(FieldError) as info:
        check_fen(fen, "total_fen")
    assert info.value.field == "total_fen"
    assert info.value.message == "must not exceed 10000000000.00 yuan"


@pytest.mark.parametrize("value", [True, False])
def test_check_fen_refuses_bool(value: bool) -> None:
    with pytest.raises(FieldError):
        check_fen(value, allow_zero=True)


@pytest.mark.parametrize("value", [1.0, 1.5, 100.0, float("nan"), float("inf")])
def test_check_fen_refuses_float(value: float) -> None:
    with pytest.raises(FieldError) as info:
        check_fen(value, "amount_fen")
    assert info.value.field == "amount_fen"


@pytest.mark.parametrize("value", ["100", None, b"1"])
def test_check_fen_refuses_non_int(value: object) -> None:
    with pytest.raises(FieldError):
        check_fen(value)


def test_check_fen_default_field_name_is_amount_fen() -> None:
    with pytest.raises(FieldError) as info:
        check_fen(-5)
    assert info.value.field == "amount_fen"


def test_max_fen_is_ten_to_the_twelve_and_far_below_bigint() -> None:
    assert MAX_FEN == 10**12
    assert MAX_FEN * 1_000_000 < 2**63


# --- format_yuan ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (123450, "1234.50"),
        (1, "0.01"),
        (10, "0.10"),
        (100, "1.00"),
        (0, "0.00"),
        (-1, "-0.01"),
        (-123450, "-1234.50"),
        (MAX_FEN, "10000000000.00"),
    ],
)
def test_format_yuan_prints_exactly_two_decimals(fen: int, text: str) -> None:
    assert format_yuan(fen) == text


@given(st.integers(min_value=1, max_value=MAX_FEN))
def test_format_yuan_round_trips_through_parse_yuan(fen: int) -> None:
    assert parse_yuan(format_yuan(fen)) == fen


@given(st.integers(min_value=0, max_value=MAX_FEN))
def test_format_yuan_round_trips_including_zero_when_allowed(fen: int) -> None:
    assert parse_yuan(format_yuan(fen), allow_zero=True) == fen


@given(st.integers(min_value=-MAX_FEN, max_value=-1))
def test_format_yuan_of_negative_is_minus_then_the_positive_form(fen: int) -> None:
    assert format_yuan(fen) == "-" + format_yuan(-fen)


# --- Money ----------------------------------------------------------------------------------------


def test_money_defaults_to_cny() -> None:
    assert Money(100).currency == "CNY"


def test_money_zero_is_zero_fen_cny() -> None:
    assert Money.zero() == Money(0, "CNY")


@pytest.mark.parametrize("fen", [1.5, 1.0, True, False, "100", None])
def test_money_refuses_non_int_fen(fen: object) -> None:
    with pytest.raises(TypeError):
        Money(fen)  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["USD", "cny", "", "RMB", "CNH"])
def test_money_refuses_unknown_currency(currency: str) -> None:
    with pytest.raises(ValueError, match="unsupported currency"):
        Money(100, currency)


def test_money_is_immutable() -> None:
    m = Money(100)
    with pytest.raises(AttributeError):
        m.fen = 200  # type: ignore[misc]


def test_money_add_sums_fen() -> None:
    assert Money(12345) + Money(55) == Money(12400)


def test_money_sub_subtracts_fen_and_may_go_negative() -> None:
    assert Money(100) - Money(250) == Money(-150)


def test_money_neg_flips_sign() -> None:
    assert -Money(100) == Money(-100)


def test_money_min_returns_smaller() -> None:
    assert Money(100).min(Money(99)) == Money(99)
    assert Money(99).min(Money(100)) == Money(99)


def test_money_orders_by_fen() -> None:
    assert sorted([Money(3), Money(1), Money(2)]) == [Money(1), Money(2), Money(3)]


def test_money_yuan_prints_two_decimals() -> None:
    assert Money(123450).yuan == "1234.50"


def test_money_str_is_yuan_and_currency() -> None:
    assert str(Money(-1)) == "-0.01 CNY"


@given(st.integers(-MAX_FEN, MAX_FEN), st.integers(-MAX_FEN, MAX_FEN))
def test_money_addition_is_exact_integer_addition(a: int, b: int) -> None:
    total = Money(a) + Money(b)
    assert total.fen == a + b
    assert type(total.fen) is int


@pytest.mark.parametrize("other", [100, 1.5, "1.00", None])
def test_money_arithmetic_refuses_non_money(other: object) -> None:
    with pytest.raises(TypeError):
        Money(100) + other  # type: ignore[operator]


@pytest.fixture
def usd(monkeypatch: pytest.MonkeyPatch) -> Money:
    """A second currency, as if the service supported one: needed to build mixed-currency sums."""
    monkeypatch.setattr(money, "SUPPORTED_CURRENCIES", frozenset({"CNY", "USD"}))
    return Money(100, "USD")


def test_money_add_refuses_mixed_currencies(usd: Money) -> None:
    with pytest.raises(ValueError, match="currency mismatch"):
        Money(100) + usd


def test_money_sub_refuses_mixed_currencies(usd: Money) -> None:
    with pytest.raises(ValueError, match="currency mismatch"):
        Money(100) - usd


def test_money_min_refuses_mixed_currencies(usd: Money) -> None:
    with pytest.raises(ValueError, match="currency mismatch"):
        Money(100).min(usd)


def test_money_add_of_same_foreign_currency_keeps_currency(usd: Money) -> None:
    assert usd + usd == Money(200, "USD")


# --- check_currency -------------------------------------------------------------------------------


def test_check_currency_accepts_cny() -> None:
    assert check_currency("CNY") == "CNY"


@pytest.mark.parametrize("code", ["USD", "cny", "", None, 156, ["CNY"], {"CNY": 1}])
def test_check_currency_refuses_anything_else_with_field_error(code: object) -> None:
    with pytest.raises(FieldError) as info:
        check_currency(code, "payment.currency")
    assert info.value.field == "payment.currency"
