"""Bank statement files of a collection account, parsed into `BankStatement`s.

Three formats: CSV exports of Chinese banks (through a `CsvMapping`), ISO 20022 camt.053 XML and
SWIFT MT940. The parsers are pure and raise only `BankFileError`, whose message never quotes the file.
"""

from __future__ import annotations

import re

from reconciliation.bankfiles.camt053 import parse_camt053
from reconciliation.bankfiles.csvfile import CSV_PRESETS, CsvMapping, parse_csv
from reconciliation.bankfiles.model import BankFileError, BankStatement, BankStatementLine
from reconciliation.bankfiles.mt940file import parse_mt940
from reconciliation.bankfiles.values import text_candidates

FORMATS = ("csv", "camt053", "mt940")

_MT940_RE = re.compile(r"^\s*(?:\{4:\s*)?:20:", re.MULTILINE)
_MT940_BODY_RE = re.compile(r"^:(?:25|60[FM]?|61):", re.MULTILINE)


def detect_format(data: bytes) -> str:
    """The format ("csv", "camt053" or "mt940") from the content alone: file names lie."""
    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise BankFileError("the file is an Excel workbook or archive: export the statement as CSV")
    text = next((t for _, t in text_candidates(data)), None)
    if text is None:
        raise BankFileError("the file is not text in a supported encoding (UTF-8, UTF-16, GB18030/GBK)")
    head = text.lstrip()
    if not head:
        raise BankFileError("the file is empty")
    if head.startswith("<"):
        if "BkToCstmrStmt" in text:
            return "camt053"
        raise BankFileError("the file is XML but not a camt.053 statement (BkToCstmrStmt)")
    if _MT940_RE.search(text) and _MT940_BODY_RE.search(text):
        return "mt940"
    if any(sep in text for sep in (",", "\t", ";")):
        return "csv"
    raise BankFileError("the file is neither CSV, camt.053 nor MT940")


def parse_bank_file(data: bytes, fmt: str | None = None, mapping: CsvMapping | None = None) -> BankStatement:
    """Parses a statement file; `fmt` None detects it. CSV needs a mapping (see CSV_PRESETS)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("data must be the file's bytes")
    data = bytes(data)
    fmt = detect_format(data) if fmt is None else fmt
    if fmt == "csv":
        if mapping is None:
            raise BankFileError("csv: a column mapping is needed for CSV statements")
        return parse_csv(data, mapping)
    if fmt == "camt053":
        return parse_camt053(data)
    if fmt == "mt940":
        return parse_mt940(data)
    raise BankFileError(f"unknown statement format; known: {', '.join(FORMATS)}")


__all__ = [
    "CSV_PRESETS",
    "FORMATS",
    "BankFileError",
    "BankStatement",
    "BankStatementLine",
    "CsvMapping",
    "detect_format",
    "parse_bank_file",
]
