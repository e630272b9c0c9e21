"""Parser for Alipay's daily business bill (业务明细): a zip of GBK CSV files.

Layout (providers.md 1.7): comment lines start with `#`; the line holding 业务明细列表 (and not 结束)
is followed by the header line, then data rows until the 业务明细列表结束 line. Identifier cells end
in a tab (an Excel guard), so every cell is stripped.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from datetime import datetime

from payments.domain.money import Money
from providers.alipay import transform
from providers.base import StatementError, StatementLine

DETAIL_MARK = "业务明细"
SUMMARY_MARK = "汇总"
LIST_START = "业务明细列表"
LIST_END = "业务明细列表结束"

COL_TRADE_NO = "支付宝交易号"
COL_OUT_TRADE_NO = "商户订单号"
COL_TYPE = "业务类型"
COL_FINISHED = "完成时间"
COL_AMOUNT = "订单金额（元）"
COL_REFUND_NO = "退款批次号/请求号"
COL_FEE = "服务费（元）"
_REQUIRED = (COL_TRADE_NO, COL_OUT_TRADE_NO, COL_TYPE, COL_FINISHED, COL_AMOUNT, COL_REFUND_NO, COL_FEE)

TYPE_PAYMENT = "交易"
TYPE_REFUND = "退款"

# Far above a day's bill for one merchant; refuses zip bombs before they are inflated.
MAX_ENTRY_BYTES = 256 * 1024 * 1024
_UTF8_NAME_FLAG = 0x800
# What zipfile raises besides BadZipFile on a corrupt archive: a broken deflate stream (zlib.error),
# offsets past the data (ValueError, EOFError, OSError), unsupported compression (NotImplementedError),
# an encrypted entry (RuntimeError).
_CORRUPT = (zlib.error, ValueError, OSError, EOFError, NotImplementedError, RuntimeError)


def entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's real name: Alipay writes GBK names without the UTF-8 flag, which zipfile reads as cp437."""
    if info.flag_bits & _UTF8_NAME_FLAG:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def parse(data: bytes) -> list[StatementLine]:
    try:
        text = _detail_text(data)
        return _parse_detail(text)
    except StatementError:
        raise
    except Exception as exc:  # the contract: whatever the bytes, only StatementError escapes
        raise StatementError(f"unreadable Alipay bill: {type(exc).__name__}") from exc


def _detail_text(data: bytes) -> str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, *_CORRUPT) as exc:
        raise StatementError("not a zip file") from exc
    try:
        with archive:
            details = [
                info
                for info in archive.infolist()
                if DETAIL_MARK in entry_name(info) and SUMMARY_MARK not in entry_name(info)
            ]
            if not details:
                raise StatementError("no 业务明细 detail file in the bill zip")
            info = details[0]
            if info.file_size > MAX_ENTRY_BYTES:
                raise StatementError("detail file too large")
            raw = archive.read(info)
    except StatementError:
        raise
    except (zipfile.BadZipFile, *_CORRUPT) as exc:
        raise StatementError(
            f"the detail file cannot be read from the zip ({type(exc).__name__}: {exc})"
        ) from exc
    # GB18030 is a strict superset of GBK, so it reads GBK files and never mis-decodes them.
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise StatementError(f"the detail file is not GBK text (byte {exc.start})") from None


def _parse_detail(text: str) -> list[StatementLine]:
    lines = _lines(text)
    start = next(
        (i for i, line in enumerate(lines) if LIST_START in line and "结束" not in line),
        None,
    )
    if start is None:
        raise StatementError("no 业务明细列表 marker line")
    header_no = start + 1
    if header_no >= len(lines):
        raise StatementError("bill ends before the header line", header_no + 1)
    header = [cell.strip() for cell in _cells(lines[header_no])]
    missing = [name for name in _REQUIRED if name not in header]
    if missing:
        raise StatementError(f"header lacks {', '.join(missing)}", header_no + 1)
    col = {name: header.index(name) for name in _REQUIRED}
    result: list[StatementLine] = []
    for index in range(header_no + 1, len(lines)):
        line = lines[index]
        line_no = index + 1
        if LIST_END in line:
            return result
        if not line.strip():
            continue
        cells = [cell.strip() for cell in _cells(line)]
        if len(cells) != len(header):
            raise StatementError(f"{len(cells)} cells where the header has {len(header)}", line_no)
        result.append(_line(cells, col, line_no))
    raise StatementError("no 业务明细列表结束 line: the bill is truncated")


def _cells(line: str) -> list[str]:
    return next(csv.reader([line]), [])


def _line(cells: list[str], col: dict[str, int], line_no: int) -> StatementLine:
    kind_text = cells[col[COL_TYPE]]
    try:
        amount = transform.parse_signed_fen(cells[col[COL_AMOUNT]])
        fee_cell = cells[col[COL_FEE]]
        fee = transform.parse_signed_fen(fee_cell) if fee_cell else 0
        occurred_at: datetime = transform.parse_beijing(cells[col[COL_FINISHED]])
    except ValueError as exc:
        raise StatementError(str(exc), line_no) from None
    out_trade_no = cells[col[COL_OUT_TRADE_NO]]
    trade_no = cells[col[COL_TRADE_NO]]
    if not trade_no:
        raise StatementError("empty 支付宝交易号", line_no)
    # The sign convention of 服务费 is not documented (bills show both 0.12 and -0.12 for a charge), so
    # the direction comes from the row type: a payment's fee is charged, a refund's fee is given back.
    if kind_text == TYPE_PAYMENT:
        if amount < 0:
            raise StatementError("negative amount on a 交易 row", line_no)
        return StatementLine(
            provider=transform.PROVIDER,
            kind="payment",
            out_trade_no=out_trade_no,
            provider_txn_id=trade_no,
            amount=Money(amount),
            fee=Money(abs(fee)),
            occurred_at=occurred_at,
            status=kind_text,
            line_no=line_no,
        )
    if kind_text == TYPE_REFUND:
        refund_no = cells[col[COL_REFUND_NO]]
        if not refund_no:
            raise StatementError("退款 row without 退款批次号/请求号", line_no)
        return StatementLine(
            provider=transform.PROVIDER,
            kind="refund",
            out_trade_no=out_trade_no,
            provider_txn_id=trade_no,
            amount=Money(-abs(amount)),
            fee=Money(-abs(fee)),
            occurred_at=occurred_at,
            refund_no=refund_no,
            status=kind_text,
            line_no=line_no,
        )
    raise StatementError(f"unknown 业务类型 {kind_text!r}", line_no)


def _lines(text: str) -> list[str]:
    """Lines ended by CR, LF or CRLF only: str.splitlines would also break at a vertical tab, form feed
    or separator character inside a cell (a product subject, say) and split one record in two."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines
