"""Hypothesis on the three statement parsers: raw file bytes in, a list of StatementLine or a
StatementError out, and nothing else (providers/base.py: Provider.parse_statement).

- Alipay: a zip of GBK CSV files (providers/alipay/statement.py `parse`).
- WeChat Pay: the UTF-8 trade bill (providers/wechatpay/statement.py `parse_statement`).
- Bank card: UnionPay's zip of fixed-width GBK records (providers/bankcard/statement.py
  `parse_statement_zip`).

Alipay and WeChat Pay wrap their parser in a last-resort `except Exception` that turns a surprise into a
StatementError naming the exception type. The contract holds with it, but an error out of that net
means the parser's own checks missed something, so the properties require that the net never fires.

Inputs: arbitrary bytes; valid files built by the sandboxes' own writers (rows drawn by Hypothesis),
mutated byte by byte; and the same files with their *content* mutated (a cell, a line, a byte of the
text) and then zipped again, so that the edit gets past the zip layer into the parsing.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers.alipay import statement as alipay_statement
from providers.alipay.sandbox_bill import BillRow, build_bill_zip
from providers.bankcard.sandbox_files import ZmEntry, statement_zip
from providers.bankcard.statement import parse_statement_zip
from providers.base import BEIJING, StatementError, StatementLine
from providers.wechatpay import statement as wechatpay_statement
from providers.wechatpay.sandbox_bill import render_trade_bill
from providers.wechatpay.sandbox_store import SandboxOrder, SandboxPayment, SandboxRefund
from tests.fuzz.conftest import bounded
from tests.fuzz.mutations import ODD_TEXT, from_safety_net, mutated_bytes

EXAMPLES = 40
DAY = date(2025, 1, 1)
MER_ID = "777290058110097"

Parser = Callable[[bytes], list[StatementLine]]


def outcome(
    parse: Parser, wrapper: Callable[..., Any] | None, data: bytes
) -> list[StatementLine] | StatementError:
    """The lines or the StatementError; any other exception propagates and fails the test."""
    try:
        lines = parse(data)
    except StatementError as exc:
        hidden = exc.__cause__ or exc.__context__
        if wrapper is not None:
            assert not from_safety_net(exc, wrapper), f"only the safety net caught {hidden!r}"
        return exc
    assert isinstance(lines, list) and all(isinstance(line, StatementLine) for line in lines)
    return lines


def rezip(original: bytes, change: Callable[[str, bytes], bytes]) -> bytes:
    """The same archive with every member's content passed through `change(name, content)`."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(original)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info, change(info.filename, source.read(info)))
    return out.getvalue()


@st.composite
def mutated_lines(draw: st.DrawFn, text: str, separator: str) -> str:
    """A few edits of a text file: a cell replaced, a line dropped, duplicated or inserted."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(len(lines) - 1, 0)))
        op = draw(st.sampled_from(["cell", "cell", "drop", "duplicate", "insert"]))
        if op == "cell" and lines:
            cells = lines[at].split(separator)
            cells[draw(st.integers(0, len(cells) - 1))] = draw(ODD_TEXT)
            lines[at] = separator.join(cells)
        elif op == "drop" and lines:
            del lines[at]
        elif op == "duplicate" and lines:
            lines.insert(at, lines[at])
        else:
            lines.insert(at, draw(ODD_TEXT))
    return "\r\n".join(lines)


MOMENTS = st.datetimes(datetime(2024, 12, 31, 16), datetime(2025, 1, 1, 15, 59), timezones=st.just(UTC))
IDS = st.from_regex(r"[A-Za-z0-9]{8,32}", fullmatch=True)
FEN = st.integers(1, 10**10)


# -- Alipay ------------------------------------------------------------------------------------------


# What we put in an order's subject: text, never control characters (the parser splits lines the way
# str.splitlines does, so a vertical tab in a subject would split its row).
SUBJECTS = st.text(st.characters(categories=("L", "N", "P", "Zs")), max_size=20)


@st.composite
def alipay_bills(draw: st.DrawFn) -> tuple[bytes, int]:
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        finished = draw(MOMENTS)
        refund = draw(st.booleans())
        fen = draw(FEN)
        rows.append(
            BillRow(
                trade_no=draw(st.from_regex(r"2025[0-9]{24}", fullmatch=True)),
                out_trade_no=draw(IDS),
                kind="退款" if refund else "交易",
                subject=draw(SUBJECTS),
                created=finished - timedelta(minutes=1),
                finished=finished,
                buyer="138****0000",
                amount_fen=-fen if refund else fen,
                fee_fen=draw(st.integers(-(10**6), 10**6)),
                refund_no=draw(IDS) if refund else "",
            )
        )
    return build_bill_zip("2088000000000001", DAY, rows, datetime(2025, 1, 2, tzinfo=BEIJING)), len(rows)


def _alipay(data: bytes) -> list[StatementLine] | StatementError:
    return outcome(alipay_statement.parse, alipay_statement.parse, data)


@bounded(EXAMPLES // 2)
@given(bill=alipay_bills())
def test_alipay_a_sandbox_bill_parses_to_one_line_per_row(bill: tuple[bytes, int]) -> None:
    data, rows = bill
    lines = _alipay(data)
    assert isinstance(lines, list) and len(lines) == rows, lines


@bounded(EXAMPLES)
@given(data=st.binary(max_size=800))
def test_alipay_arbitrary_bytes_are_lines_or_a_typed_error(data: bytes) -> None:
    _alipay(data)


@bounded(EXAMPLES)
@given(bill=alipay_bills(), data=st.data())
def test_alipay_a_byte_mutated_bill_is_lines_or_a_typed_error(
    bill: tuple[bytes, int], data: st.DataObject
) -> None:
    _alipay(data.draw(mutated_bytes(bill[0])))


@bounded(EXAMPLES)
@given(bill=alipay_bills(), data=st.data(), raw=st.booleans())
def test_alipay_a_bill_with_mutated_content_is_lines_or_a_typed_error(
    bill: tuple[bytes, int], data: st.DataObject, raw: bool
) -> None:
    def change(name: str, content: bytes) -> bytes:
        if raw:  # bytes that may not be GBK at all
            return data.draw(mutated_bytes(content))
        text = data.draw(mutated_lines(content.decode("gb18030"), ","))
        return text.encode("gb18030")

    _alipay(rezip(bill[0], change))


# -- WeChat Pay ----------------------------------------------------------------------------------------


# The bill's cells start with a backtick; how WeChat would escape one in a description is not
# documented (providers.md 6), so a valid bill's description has none (nor control characters).
DESCRIPTIONS = st.text(st.characters(categories=("L", "N", "P", "Zs"), exclude_characters="`"), max_size=20)


@st.composite
def wechatpay_bills(draw: st.DrawFn) -> bytes:
    orders, refunds = [], []
    for n in range(draw(st.integers(1, 3))):
        paid = draw(MOMENTS)
        total = draw(FEN)
        order_no, txn = f"ORDER2025{n:04d}", draw(st.from_regex(r"42[0-9]{26}", fullmatch=True))
        refunded = draw(st.booleans())
        order = SandboxOrder(
            out_trade_no=order_no, appid="wxd678efh567hg6787", mchid="1900000109",
            description=draw(DESCRIPTIONS), notify_url="http://127.0.0.1/notify", total=total,
            currency="CNY", trade_type="NATIVE", token=f"tok{n}", created_at=paid, time_expire=None,
            fingerprint=(), trade_state="REFUND" if refunded else "SUCCESS",
            payments=[SandboxPayment(txn, total, paid, "oSandbox1")],
        )  # fmt: skip
        orders.append(order)
        if refunded:
            back = min(paid + timedelta(minutes=5), datetime(2025, 1, 1, 15, 59, tzinfo=UTC))
            refund = SandboxRefund(
                refund_id=f"503002025{n:020d}", out_refund_no=f"REFUND2025{n:04d}", out_trade_no=order_no,
                transaction_id=txn, refund=draw(st.integers(1, total)), total=total, currency="CNY",
                reason="", notify_url="", create_time=paid, status="SUCCESS", success_time=back,
            )  # fmt: skip
            refunds.append(refund)
    bill_type = draw(st.sampled_from(["ALL", "SUCCESS", "REFUND"]))
    data = render_trade_bill(bill_type, DAY, orders, refunds)
    if data is None:  # a REFUND bill of a day without refunds: the ALL bill has the payments
        data = render_trade_bill("ALL", DAY, orders, refunds)
    assert data is not None
    return data


def _wechatpay(data: bytes) -> list[StatementLine] | StatementError:
    return outcome(wechatpay_statement.parse_statement, wechatpay_statement.parse_statement, data)


@bounded(EXAMPLES // 2)
@given(bill=wechatpay_bills())
def test_wechatpay_a_sandbox_bill_parses(bill: bytes) -> None:
    lines = _wechatpay(bill)
    assert isinstance(lines, list) and lines, lines


@bounded(EXAMPLES)
@given(data=st.binary(max_size=800))
def test_wechatpay_arbitrary_bytes_are_lines_or_a_typed_error(data: bytes) -> None:
    _wechatpay(data)


@bounded(EXAMPLES)
@given(bill=wechatpay_bills(), data=st.data())
def test_wechatpay_a_byte_mutated_bill_is_lines_or_a_typed_error(bill: bytes, data: st.DataObject) -> None:
    _wechatpay(data.draw(mutated_bytes(bill)))


@bounded(EXAMPLES)
@given(bill=wechatpay_bills(), data=st.data())
def test_wechatpay_a_bill_with_mutated_cells_and_lines_is_lines_or_a_typed_error(
    bill: bytes, data: st.DataObject
) -> None:
    text = bill.decode("utf-8")
    _wechatpay(data.draw(mutated_lines(text, ",`")).encode("utf-8", errors="surrogatepass"))


# -- Bank card (UnionPay) --------------------------------------------------------------------------------


@st.composite
def bankcard_files(draw: st.DrawFn) -> tuple[bytes, int]:
    entries = []
    for n in range(draw(st.integers(0, 4))):
        refund = draw(st.booleans())
        entries.append(
            ZmEntry(
                txn_type="04" if refund else "01",
                txn_time=draw(MOMENTS).astimezone(BEIJING),
                amount_fen=draw(FEN),
                query_id=draw(st.from_regex(r"[0-9]{21}", fullmatch=True)),
                order_id=draw(IDS),
                mer_id=MER_ID,
                trace_no=f"{n:06d}",
                masked_acc_no="621661******0018",
                orig_query_id=draw(st.from_regex(r"[0-9]{21}", fullmatch=True)) if refund else "",
                orig_order_id=draw(IDS) if refund else "",
            )
        )
    return statement_zip(DAY, MER_ID, entries), len(entries)


def _bankcard(data: bytes) -> list[StatementLine] | StatementError:
    # No safety net in this parser: the contract itself is what the property checks.
    return outcome(lambda d: parse_statement_zip(d, MER_ID), None, data)


@bounded(EXAMPLES // 2)
@given(file=bankcard_files())
def test_bankcard_a_sandbox_file_parses_to_one_line_per_record(file: tuple[bytes, int]) -> None:
    data, records = file
    lines = _bankcard(data)
    assert isinstance(lines, list) and len(lines) == records, lines


@bounded(EXAMPLES)
@given(data=st.binary(max_size=800))
def test_bankcard_arbitrary_bytes_are_lines_or_a_typed_error(data: bytes) -> None:
    _bankcard(data)


@bounded(EXAMPLES)
@given(file=bankcard_files(), data=st.data())
def test_bankcard_a_byte_mutated_file_is_lines_or_a_typed_error(
    file: tuple[bytes, int], data: st.DataObject
) -> None:
    _bankcard(data.draw(mutated_bytes(file[0])))


@pytest.mark.filterwarnings(
    "ignore:Duplicate name:UserWarning"
)  # two members of one name: hostile, on purpose
@bounded(EXAMPLES)
@given(file=bankcard_files(), data=st.data(), rename=st.booleans())
def test_bankcard_a_file_with_mutated_records_or_names_is_lines_or_a_typed_error(
    file: tuple[bytes, int], data: st.DataObject, rename: bool
) -> None:
    original = file[0]
    if rename:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(out, "w") as target:
            for info in source.infolist():
                name = data.draw(st.one_of(st.just(info.filename), ODD_TEXT.map(lambda t: "INN" + t)))
                target.writestr(name or "x", source.read(info))
        _bankcard(out.getvalue())
        return
    _bankcard(rezip(original, lambda name, content: data.draw(mutated_bytes(content))))
