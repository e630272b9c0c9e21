"""Mutations and checks shared by the parser fuzz tests."""

from __future__ import annotations

from collections.abc import Callable
from types import CodeType
from typing import Any

from hypothesis import strategies as st


def _innermost_code(exc: BaseException) -> CodeType | None:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code if tb is not None else None


def from_safety_net(exc: BaseException, wrapper: Callable[..., Any]) -> bool:
    """Raised by the wrapper's own frame: only its catch-all raises there; typed rejections come from
    deeper frames and pass through it unchanged."""
    return _innermost_code(exc) is wrapper.__code__


@st.composite
def mutated_bytes(draw: st.DrawFn, original: bytes) -> bytes:
    """A few byte-level edits of a valid input: flip, insert, delete, truncate, duplicate a slice."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[at:]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 32))]
    return bytes(data)


# Values that have tripped parsers: empty, blanks, numbers in odd forms, dates off the calendar,
# non-ASCII digits, NUL and other controls, long text.
_ODD = [
    "", " ", "0", "-1", "00", "1e3", "NaN", "Infinity", "0.001", "123.456", "9" * 30, "-0.01", "１２３", "٣",
    "2024-02-30 10:00:00", "2024-13-01 00:00:00", "20241301120000", "1231235960", "0229120000", "\x00",
    "\ufeff", "%", "&", "=", "+", "SUCCESS", "REFUND", "01", "04", "156", "840", "CNY", "USD",
]  # fmt: skip
ODD_TEXT = st.one_of(st.sampled_from(_ODD), st.text(max_size=40))


@st.composite
def changed_fields(
    draw: st.DrawFn, fields: dict[str, str], keep: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Some fields set to odd values, some removed, maybe one added; `keep` is never touched."""
    out = dict(fields)
    names = sorted(set(fields) - keep)
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()) or not names:
            name = (
                draw(st.sampled_from(names)) if names and draw(st.booleans()) else draw(st.text(max_size=12))
            )
            if name not in keep:
                out[name] = draw(ODD_TEXT)
        else:
            out.pop(draw(st.sampled_from(names)), None)
    return out
