"""Money as an integer count of fen plus an ISO 4217 currency.

Decimal appears only in `parse_yuan` and `Money.yuan`, the two edges where yuan strings come in or go
out. Floats are refused everywhere: a float amount is a bug, not an input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from payments.domain.errors import FieldError

SUPPORTED_CURRENCIES = frozenset({"CNY"})

# The largest amount the service accepts: 10^12 fen (10 billion yuan) is far above any debt and far
# below the 2^63 limit of a BIGINT column, so sums of many amounts cannot overflow the database.
MAX_FEN = 10**12

# Digits, optional two-place fraction. No sign, no exponent, no whitespace, no thousands separator.
_YUAN = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?")


@dataclass(frozen=True, slots=True, order=True)
class Money:
    fen: int
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if type(self.fen) is not int:  # bool and float are refused too
            raise TypeError(f"Money.fen must be int, got {type(self.fen).__name__}")
        if self.currency not in SUPPORTED_CURRENCIES:
            raise ValueError(f"unsupported currency {self.currency!r}")

    @classmethod
    def zero(cls, currency: str = "CNY") -> Money:
        return cls(0, currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.fen + other.fen, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.fen - other.fen, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.fen, self.currency)

    def min(self, other: Money) -> Money:
        self._same_currency(other)
        return self if self.fen <= other.fen else other

    @property
    def yuan(self) -> str:
        """The amount as a yuan string with exactly two decimals, e.g. '1234.50' or '-0.01'."""
        return format_yuan(self.fen)

    def _same_currency(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("Money arithmetic needs Money on both sides")
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __str__(self) -> str:
        return f"{self.yuan} {self.currency}"


def format_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole}.{part:02d}"


def parse_yuan(text: object, field: str = "amount", *, allow_zero: bool = False) -> int:
    """Parse a yuan string such as "1234.50" into fen, strictly.

    Refused, each with a FieldError naming `field`: non-strings, more than two decimals, a sign,
    an exponent, NaN/Infinity, surrounding whitespace, zero (unless allowed) and anything above MAX_FEN.
    """
    if not isinstance(text, str):
        raise FieldError(field, 'must be a string of yuan such as "1234.50"')
    if not _YUAN.fullmatch(text):
        raise FieldError(field, 'must be a positive yuan amount with at most two decimals, such as "1234.50"')
    fen = int(Decimal(text) * 100)
    return check_fen(fen, field, allow_zero=allow_zero)


def check_fen(fen: object, field: str = "amount_fen", *, allow_zero: bool = False) -> int:
    if type(fen) is not int:
        raise FieldError(field, "must be an integer number of fen")
    if fen < 0 or (fen == 0 and not allow_zero):
        raise FieldError(field, "must be greater than zero" if not allow_zero else "must not be negative")
    if fen > MAX_FEN:
        raise FieldError(field, f"must not exceed {format_yuan(MAX_FEN)} yuan")
    return fen


def check_currency(code: object, field: str = "currency") -> str:
    if not isinstance(code, str) or code not in SUPPORTED_CURRENCIES:  # a list or dict is a 422, not a 500
        raise FieldError(field, f"unsupported currency; supported: {', '.join(sorted(SUPPORTED_CURRENCIES))}")
    return code  # type: ignore[return-value]
