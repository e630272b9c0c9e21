"""The WeChat Pay trade bill (交易账单) parser (providers.md 2.7).

Layout: an optional UTF-8 BOM, a header row, detail rows whose every cell starts with a backtick, then
a summary header row (总交易单数,...) and a summary row. Columns differ between the ALL, SUCCESS and
REFUND bills, so cells are mapped by header name.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from payments.domain.errors import FieldError
from payments.domain.money import MAX_FEN, Money, parse_yuan
from providers.base import BEIJING, StatementError, StatementLine
from providers.wechatpay import wire as w

PROVIDER = "wechatpay"
_REQUIRED = (w.BILL_TIME, w.BILL_TRANSACTION_ID, w.BILL_OUT_TRADE_NO, w.BILL_TRADE_STATE, w.BILL_FEE)
_FEE = re.compile(r"-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,5})?")


def parse_statement(data: bytes) -> list[StatementLine]:
    try:
        return _parse(data)
    except StatementError:
        raise
    except Exception as exc:
        # A statement we cannot read must stop reconciliation with a clear error, never a crash.
        raise StatementError(f"unreadable trade bill: {type(exc).__name__}") from None


def _parse(data: bytes) -> list[StatementLine]:
    if not isinstance(data, bytes | bytearray):
        raise StatementError("the trade bill must be bytes")
    try:
        content = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StatementError(f"not UTF-8 at byte {exc.start}") from None
    rows = _lines(content.removeprefix("\ufeff"))
    if not rows or not rows[0].strip():
        raise StatementError("empty trade bill", 1)
    header = rows[0].split(",")
    if len(set(header)) != len(header):
        raise StatementError("duplicate column names in the header", 1)
    missing = [name for name in _REQUIRED if name not in header]
    if missing or not {w.BILL_ORDER_TOTAL, w.BILL_SETTLEMENT_TOTAL} & set(header):
        raise StatementError(
            f"not a WeChat Pay trade bill header (missing {', '.join(missing) or '订单金额'})", 1
        )

    lines: list[StatementLine] = []
    for index, row in enumerate(rows[1:], start=2):
        if row.startswith(w.BILL_SUMMARY_FIRST):
            return lines
        if not row:
            continue
        cells = _cells(row, len(header), index)
        line = _line(dict(zip(header, cells, strict=True)), index)
        if line is not None:
            lines.append(line)
    # A bill always ends with its summary; without it the file was cut short.
    raise StatementError("the summary rows (总交易单数...) are missing; the file looks truncated")


def _cells(row: str, expected: int, line_no: int) -> list[str]:
    if not row.startswith("`"):
        raise StatementError("a detail cell does not start with a backtick", line_no)
    # Every cell starts with a backtick, so splitting on ",`" keeps a comma typed into 商品名称 or
    # 商户数据包 inside its cell. How WeChat escapes such commas is not documented (providers.md 6).
    cells = row[1:].split(",`")
    if len(cells) != expected:
        raise StatementError(f"{len(cells)} cells where the header has {expected}", line_no)
    return cells


def _line(cell: dict[str, str], line_no: int) -> StatementLine | None:
    state = cell[w.BILL_TRADE_STATE]
    if state == "SUCCESS":
        kind = "payment"
        amount = _amount(cell, w.BILL_ORDER_TOTAL, line_no) if w.BILL_ORDER_TOTAL in cell else None
        if amount is None:  # old merchants' bills: only the settlement amount
            amount = _amount(cell, w.BILL_SETTLEMENT_TOTAL, line_no)
        refund_no, status = "", state
    elif state == "REFUND":
        kind = "refund"
        if w.BILL_REFUND not in cell or w.BILL_OUT_REFUND_NO not in cell:
            raise StatementError("a refund row in a bill without refund columns", line_no)
        amount = -_amount(cell, w.BILL_REFUND, line_no)
        refund_no = cell[w.BILL_OUT_REFUND_NO]
        status = cell.get(w.BILL_REFUND_STATUS, "")
        if not refund_no or refund_no == "0":
            raise StatementError("a refund row without 商户退款单号", line_no)
    else:
        # Other states (e.g. REVOKED for a cancelled code payment) move no money.
        return None
    when = cell[w.BILL_TIME]
    if kind == "refund" and cell.get(w.BILL_REFUND_SUCCESS_TIME):
        # The REFUND bill states when the money went back; 交易时间 there may be the payment's time.
        when = cell[w.BILL_REFUND_SUCCESS_TIME]
    out_trade_no = cell[w.BILL_OUT_TRADE_NO]
    transaction_id = cell[w.BILL_TRANSACTION_ID]
    if not out_trade_no or not transaction_id:
        raise StatementError("a row without 商户订单号 or 微信订单号", line_no)
    currency = cell.get(w.BILL_CURRENCY) or "CNY"
    try:
        amount_money = Money(amount, currency)
    except ValueError:
        raise StatementError(f"unsupported currency {currency!r}", line_no) from None
    return StatementLine(
        provider=PROVIDER,
        kind=kind,
        out_trade_no=out_trade_no,
        provider_txn_id=transaction_id,
        amount=amount_money,
        fee=Money(_fee(cell[w.BILL_FEE], line_no), currency),
        occurred_at=_time(when, line_no),
        refund_no=refund_no,
        status=status,
        line_no=line_no,
    )


def _amount(cell: dict[str, str], column: str, line_no: int) -> int:
    try:
        return parse_yuan(cell[column], column, allow_zero=True)
    except FieldError as exc:
        raise StatementError(f"{column} {cell[column]!r}: {exc.message}", line_no) from None


def _fee(value: str, line_no: int) -> int:
    """手续费 has five decimals (e.g. 0.00018 on a 0.02 yuan order at 0.90%); rounded half-up to fen.

    How WeChat rounds fees at settlement is not documented; per-line half-up rounding means the sum of
    lines may differ from 手续费总金额 by a few fen on a busy day.
    """
    if not _FEE.fullmatch(value):
        raise StatementError(f"手续费 {value!r} is not a yuan amount", line_no)
    try:
        fen = int((Decimal(value) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        raise StatementError(f"手续费 {value!r} is not a yuan amount", line_no) from None
    if abs(fen) > MAX_FEN:
        raise StatementError(f"手续费 {value!r} is out of range", line_no)
    return fen


def _time(value: str, line_no: int) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        raise StatementError(f"交易时间 {value!r} is not YYYY-MM-DD HH:MM:SS", line_no) from None


def _lines(text: str) -> list[str]:
    """Lines ended by CR, LF or CRLF only: str.splitlines would also break at a vertical tab, form feed
    or separator character inside a cell (a product subject, say) and split one record in two."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines
