"""UnionPay reconciliation file (对账文件): a zip of fixed-width GBK records, parsed to StatementLine.

What is known (providers.md 3.5): fileTransfer returns base64(zlib(zip)); the zip holds `INN…ZM_…`
(transaction detail) and `INN…ZME_…` (errors) files; ZM records are fixed-width fields separated by
one space, widths below; 1-based positions 5 = txnTime MMDDhhmmss, 12 = orderId, 20 = txnType; the
official demo reads the file as GBK.

ASSUMPTIONS, not confirmed by a primary source (the spec, 《全渠道平台接入接口规范 第3部分 文件接口》
§6.1/6.2, was not obtained):
- position 7 is the amount in fen (zero padded), 10 is queryId, 28 is merId;
- for refunds, 27 is the original queryId and 41 the original orderId (our out_trade_no);
- widths count GBK bytes, not characters;
- the entry name is `INN` + settle date YYMMDD + two characters + `ZM_` + merId (the demo only
  checks `INN` at 0 and `ZM_` at 11); the settle date supplies the year that txnTime lacks;
- only txnType 01 (consume) and 04 (refund) occur for this merchant; anything else is an error
  rather than a silently dropped line.
- Fee: position 16 is believed to be the merchant fee (商户手续费), but its format (sign letter?
  padding?) is unknown, so fees are reported as zero rather than guessed.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from datetime import date

from payments.domain.money import Money
from providers.bankcard import wire
from providers.bankcard.transform import PROVIDER, fen_from_digits, nearest_datetime
from providers.base import StatementError, StatementLine

ZM_WIDTHS: tuple[int, ...] = (
    3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2,
    6, 2, 4, 32, 1, 21, 15, 1, 15, 32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98,
)  # fmt: skip
ZM_RECORD_LENGTH = sum(ZM_WIDTHS) + len(ZM_WIDTHS) - 1

# 1-based field positions.
POS_TXN_TIME = 5
POS_ACC_NO = 6  # card number (masked): never read
POS_AMOUNT = 7
POS_QUERY_ID = 10
POS_ORDER_ID = 12
POS_TXN_TYPE = 20
POS_ORIG_QUERY_ID = 27
POS_MER_ID = 28
POS_ORIG_ORDER_ID = 41

ZM_NAME = re.compile(r"INN(\d{6})..ZM_.*")
_MAX_ENTRY_BYTES = 256 * 1024 * 1024


def _field_offsets() -> list[tuple[int, int]]:
    offsets, start = [], 0
    for width in ZM_WIDTHS:
        offsets.append((start, start + width))
        start += width + 1
    return offsets


_OFFSETS = _field_offsets()


def settle_day_from_name(name: str) -> date:
    match = ZM_NAME.fullmatch(name)
    if not match:
        raise StatementError(f"not a ZM file name: {name!r}")
    digits = match.group(1)
    try:
        return date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError as exc:
        raise StatementError(f"bad settle date in file name {name!r}") from exc


def split_record(record: bytes) -> list[bytes]:
    """Cut one ZM record into its 42 raw fields. Trailing blanks may have been trimmed by a tool."""
    if len(record) > ZM_RECORD_LENGTH:
        raise ValueError(f"record is {len(record)} bytes, longer than {ZM_RECORD_LENGTH}")
    record = record.ljust(ZM_RECORD_LENGTH, b" ")
    fields = []
    for index, (start, end) in enumerate(_OFFSETS):
        if index and record[start - 1 : start] != b" ":
            raise ValueError(f"no separator before field {index + 1}")
        fields.append(record[start:end])
    return fields


def _text(fields: list[bytes], position: int) -> str:
    return fields[position - 1].decode("gbk").strip(" ")


def parse_zm(content: bytes, settle_day: date, mer_id: str) -> list[StatementLine]:
    lines: list[StatementLine] = []
    for line_no, raw in enumerate(content.split(b"\n"), start=1):
        record = raw.rstrip(b"\r")
        if not record.strip():
            continue
        try:
            lines.append(_parse_record(record, settle_day, mer_id, line_no))
        except UnicodeDecodeError as exc:
            raise StatementError("a field is not GBK text", line_no) from exc
        except ValueError as exc:
            # The message names the problem, never the record: it holds the (masked) card number.
            raise StatementError(str(exc), line_no) from exc
    return lines


def _parse_record(record: bytes, settle_day: date, mer_id: str, line_no: int) -> StatementLine:
    fields = split_record(record)
    merchant = _text(fields, POS_MER_ID)
    if merchant != mer_id:
        raise ValueError("record belongs to another merId")
    txn_type = _text(fields, POS_TXN_TYPE)
    order_id = _text(fields, POS_ORDER_ID)
    query_id = _text(fields, POS_QUERY_ID)
    if not order_id or not query_id:
        raise ValueError("orderId or queryId is blank")
    fen = fen_from_digits(_text(fields, POS_AMOUNT))
    try:
        occurred_at = nearest_datetime(_text(fields, POS_TXN_TIME), settle_day)
    except ValueError as exc:
        raise ValueError(f"txnTime: {exc}") from exc
    if txn_type == wire.TXN_CONSUME:
        return StatementLine(
            provider=PROVIDER,
            kind="payment",
            out_trade_no=order_id,
            provider_txn_id=query_id,
            amount=Money(fen),
            fee=Money.zero(),  # see the module docstring: the fee field's format is unknown
            occurred_at=occurred_at,
            status="success",
            line_no=line_no,
        )
    if txn_type == wire.TXN_REFUND:
        return StatementLine(
            provider=PROVIDER,
            kind="refund",
            out_trade_no=_text(fields, POS_ORIG_ORDER_ID),
            provider_txn_id=query_id,
            amount=Money(-fen),
            fee=Money.zero(),
            occurred_at=occurred_at,
            refund_no=order_id,
            status="success",
            line_no=line_no,
        )
    raise ValueError(f"unsupported txnType {txn_type[:2]!r}")


def parse_statement_zip(data: bytes, mer_id: str) -> list[StatementLine]:
    """Parse the zip fileTransfer delivers. Raises StatementError only."""
    lines: list[StatementLine] = []
    found = False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                name = info.filename.rsplit("/", 1)[-1]
                if not ZM_NAME.fullmatch(name):
                    continue  # ZME (errors) and any other file
                found = True
                if info.file_size > _MAX_ENTRY_BYTES:
                    raise StatementError(f"{name} is implausibly large")
                settle_day = settle_day_from_name(name)
                lines.extend(parse_zm(archive.read(info), settle_day, mer_id))
    except StatementError:
        raise
    except zipfile.BadZipFile as exc:
        raise StatementError("not a zip archive") from exc
    except (zlib.error, ValueError, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        # Corrupt members, unsupported compression, encrypted entries (RuntimeError).
        raise StatementError(f"unreadable zip archive: {type(exc).__name__}") from exc
    if not found:
        raise StatementError("the archive holds no INN…ZM_ file")
    return lines


def settle_date_text(day: date) -> str:
    """settleDate of the fileTransfer request: MMDD."""
    return day.strftime("%m%d")


def zm_file_name(day: date, mer_id: str, kind: str = "ZM") -> str:
    """The entry name the parser expects (see the docstring for the assumed layout)."""
    return f"INN{day:%y%m%d}88{kind}_{mer_id}"
