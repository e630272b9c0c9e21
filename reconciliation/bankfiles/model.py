"""What every bank statement parser returns, and the one error it may raise.

The parsers are pure: bytes in, a `BankStatement` out. The import command stores the lines and turns
credits into payments; nothing here knows about the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class BankStatementLine:
    line_no: int  # 1-based: the file line (CSV) or entry number (camt.053 / MT940)
    bank_ref: str  # the bank's reference, else a stable digest (see values.digest_ref)
    booked_on: date  # the booking date as the bank states it (China business day)
    booked_at: datetime  # timezone-aware, +08:00; 00:00 that day when the file gives no time
    amount_fen: int  # signed: credits (money in) positive, debits negative; never 0
    currency: str  # ISO 4217 code
    memo: str
    payer_name: str  # the counterparty's name, "" if unknown
    payer_account: str  # the counterparty's account, "" if unknown


@dataclass(frozen=True, slots=True)
class BankStatement:
    format: str  # "csv" | "camt053" | "mt940"
    account: str  # the statement's own account id if the file states it, else ""
    lines: tuple[BankStatementLine, ...]


class BankFileError(ValueError):
    """The file cannot be read as a statement.

    The message says what is wrong and where (line, entry, element or column name) and never quotes
    the file's content: statement files carry names, account numbers and memos of borrowers, and this
    message ends up in logs and API responses.
    """


__all__ = ["BankFileError", "BankStatement", "BankStatementLine"]
