"""The sandbox's reconciliation file: ZM records laid out as providers.md 3.5 (and the assumptions in
statement.py) describe, zipped, then base64(zlib(zip)) for fileTransfer's fileContent.

Values in positions the parser does not read are plausible fillers, not claims about the real file.
"""

from __future__ import annotations

import base64
import io
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from providers.bankcard import wire
from providers.bankcard.statement import (
    POS_ACC_NO,
    POS_AMOUNT,
    POS_MER_ID,
    POS_ORDER_ID,
    POS_ORIG_ORDER_ID,
    POS_ORIG_QUERY_ID,
    POS_QUERY_ID,
    POS_TXN_TIME,
    POS_TXN_TYPE,
    ZM_WIDTHS,
    zm_file_name,
)


@dataclass(frozen=True, slots=True)
class ZmEntry:
    txn_type: str  # "01" consume, "04" refund
    txn_time: datetime  # Beijing; written as MMDDhhmmss
    amount_fen: int
    query_id: str
    order_id: str
    mer_id: str
    trace_no: str
    masked_acc_no: str = ""
    orig_query_id: str = ""
    orig_order_id: str = ""


def _cell(value: str, width: int) -> bytes:
    raw = value.encode("gbk")
    if len(raw) > width:
        raise ValueError(f"{value[:8]!r}… does not fit {width} bytes")
    return raw.ljust(width, b" ")


def zm_record(entry: ZmEntry) -> bytes:
    values = [""] * len(ZM_WIDTHS)

    def put(position: int, value: str) -> None:
        values[position - 1] = value

    put(1, "S22" if entry.txn_type == wire.TXN_CONSUME else "S30")  # filler transaction code
    put(4, entry.trace_no)
    put(POS_TXN_TIME, entry.txn_time.strftime("%m%d%H%M%S"))
    put(POS_ACC_NO, entry.masked_acc_no)
    put(POS_AMOUNT, f"{entry.amount_fen:012d}")
    put(POS_QUERY_ID, entry.query_id)
    put(POS_ORDER_ID, entry.order_id)
    put(POS_TXN_TYPE, entry.txn_type)
    put(21, "01" if entry.txn_type == wire.TXN_CONSUME else "00")
    put(22, wire.BIZ_GATEWAY_PAY)
    put(POS_ORIG_QUERY_ID, entry.orig_query_id)
    put(POS_MER_ID, entry.mer_id)
    put(POS_ORIG_ORDER_ID, entry.orig_order_id)
    return b" ".join(_cell(value, width) for value, width in zip(values, ZM_WIDTHS, strict=True))


def statement_zip(day: date, mer_id: str, entries: Iterable[ZmEntry]) -> bytes:
    body = b"".join(zm_record(entry) + b"\r\n" for entry in entries)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zm_file_name(day, mer_id, "ZM"), body)
        archive.writestr(zm_file_name(day, mer_id, "ZME"), b"")  # the sandbox never has error records
    return buffer.getvalue()


def file_content(zip_bytes: bytes) -> str:
    return base64.b64encode(zlib.compress(zip_bytes)).decode("ascii")


def file_name(day: date, mer_id: str) -> str:
    # Shaped like the demo's sample archive name "802310048993424_20150905.zip".
    return f"{mer_id}_{day:%Y%m%d}.zip"
