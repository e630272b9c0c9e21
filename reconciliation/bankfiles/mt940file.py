"""SWIFT MT940 statements, read with the mt-940 package.

Each :61: statement line is a line; the :86: that follows it is its memo. The payer's name and
account are filled in only when the :86: is structured in a way that says which part is which: the
"?20..?33" sub-fields (which mt-940 splits) or "/NAME/.../ACCT/..." keywords; free text stays memo
only, since guessing a name out of it would feed wrong names to the matcher.

Marks follow SWIFT: C and RD (reversal of a debit) put money in, D and RC (reversal of a credit)
take it out.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import date
from decimal import Decimal
from typing import Any

import mt940

from reconciliation.bankfiles.model import BankFileError, BankStatement
from reconciliation.bankfiles.values import (
    DraftLine,
    build_statement,
    checked_date,
    china_datetime,
    clean_account,
    clean_text,
    currency_code,
    decimal_to_fen,
    text_candidates,
)

# mt-940 logs the raw text of a field it cannot parse, at ERROR level: account numbers and names of
# borrowers must not reach our logs that way.
logging.getLogger("mt940").setLevel(logging.CRITICAL + 1)

_OPTIONS = mt940.Options(
    applicant_iban=True,  # ?31 is the counterparty's account, not part of its name
    merge_keeps_values=True,  # a :86: without KREF keeps the :61: reference
    case_insensitive_marks=True,
    unbounded_details=True,  # a long :86: is not cut off
    strip_bom=True,
)
_CREDIT_MARKS = frozenset({"C", "RD"})
_DEBIT_MARKS = frozenset({"D", "RC"})
_PLACEHOLDER_REFS = frozenset({"NONREF", "NOTPROVIDED", "NONE"})
# Keywords of slash-structured :86: fields; only these split the text, so a memo with dates or other
# slashes in it stays whole.
_KEYWORDS = "ACCT|ACCW|ADDR|BENM|BIC|CDTRREFTP|CDTRREF|CSID|EREF|IBAN|ISDT|MARF|NAME|ORDP|PREF|PURP|REMI|RTRN|SVCL|TRTP|ULTC|ULTD"
_KEYWORD_RE = re.compile(rf"/({_KEYWORDS})/")
_ACCOUNT_KEYS = ("IBAN", "ACCT", "ACCW")


def parse_mt940(data: bytes) -> BankStatement:
    text = next((t for _, t in text_candidates(data)), None)
    if text is None:
        raise BankFileError("mt940: the file is not text in a supported encoding (UTF-8, GB18030)")
    try:
        # A file object, not the string: mt-940 reads a string that names an existing file as that
        # file, and the content of an uploaded statement is not a path on this server.
        blocks = mt940.parse_statements(io.StringIO(text), options=_OPTIONS)
    except RuntimeError as exc:
        raise BankFileError(f"mt940: field :{_tag_of(exc)}: does not have the MT940 layout") from None
    except Exception:  # malformed values fail deep inside mt-940 (dates, Decimal, regex groups)
        raise BankFileError("mt940: a field could not be read") from None
    if not blocks:
        raise BankFileError("mt940: no :20: statement header")

    accounts = {str(block.data.get("account_identification") or "").strip() for block in blocks}
    accounts.discard("")
    if len(accounts) > 1:
        raise BankFileError("mt940: the file holds statements of more than one account")
    drafts = []
    number = 0
    for block in blocks:
        block_currency = _block_currency(block)
        for transaction in block:
            number += 1
            drafts.append(_line(number, transaction.data, block_currency))
    return build_statement("mt940", clean_account(accounts.pop()) if accounts else "", drafts)


def _tag_of(exc: RuntimeError) -> str:
    tag = exc.args[1] if len(exc.args) > 1 else None
    return str(getattr(tag, "id", "?"))


def _block_currency(block: Any) -> str | None:
    try:
        return block.currency
    except Exception:  # the property digs through whatever balances were parsed
        return None


def _line(number: int, data: dict[str, Any], block_currency: str | None) -> DraftLine:
    where = f"entry {number}"
    mark = str(data.get("status") or "").upper()
    if mark in _CREDIT_MARKS:
        sign = 1
    elif mark in _DEBIT_MARKS:
        sign = -1
    else:
        raise BankFileError(f"{where}: :61: has no debit/credit mark")
    amount = data.get("amount")
    value = getattr(amount, "amount", None)
    if not isinstance(value, Decimal):
        raise BankFileError(f"{where}: :61: has no amount")
    fen = decimal_to_fen(abs(value), where)
    currency = currency_code(getattr(amount, "currency", None) or block_currency, "CNY")
    if currency is None:
        raise BankFileError(f"{where}: the statement currency is not a currency code")

    # The entry date is the booking date; the :61: date is the value date, used when there is none.
    booked = data.get("entry_date") or data.get("date")
    if not isinstance(booked, date):
        raise BankFileError(f"{where}: :61: has no date")
    try:
        booked_on = checked_date(booked.year, booked.month, booked.day)
    except ValueError:
        raise BankFileError(f"{where}: :61: date is out of range") from None

    memo, payer_name, payer_account = _details(data)
    return DraftLine(
        line_no=number,
        where=where,
        bank_ref=_reference(data),
        booked_on=booked_on,
        booked_at=china_datetime(booked_on, None),
        amount_fen=sign * fen,
        currency=currency,
        memo=memo,
        payer_name=payer_name,
        payer_account=payer_account,
    )


def _reference(data: dict[str, Any]) -> str:
    """The bank's reference (after // in :61:), else the account owner's, unless a placeholder."""
    for key in ("bank_reference", "customer_reference"):
        ref = "".join(str(data.get(key) or "").split())
        if ref and ref.upper() not in _PLACEHOLDER_REFS:
            return ref
    return ""


def _details(data: dict[str, Any]) -> tuple[str, str, str]:
    """(memo, payer name, payer account) from the :86: field."""
    raw = data.get("transaction_details")
    if isinstance(raw, str):
        return _slash_structured(raw) or (clean_text(raw), "", "")
    if "purpose" in data or "applicant_name" in data:
        # mt-940 split a "?"-structured :86: and removed the raw text.
        memo = clean_text(data.get("purpose") or data.get("posting_text"))
        name = clean_text(data.get("applicant_name"))
        account = clean_account(data.get("applicant_iban") or data.get("gvc_applicant_iban"))
        return memo, name, account
    return "", "", ""


def _slash_structured(raw: str) -> tuple[str, str, str] | None:
    text = "".join(line.strip() for line in raw.splitlines())
    matches = list(_KEYWORD_RE.finditer(text))
    if not matches or matches[0].start() != 0:
        return None
    fields: dict[str, str] = {}
    for m, nxt in zip(matches, [*matches[1:], None], strict=True):
        value = text[m.end() : nxt.start() if nxt is not None else len(text)].strip().strip("/")
        fields.setdefault(m.group(1), value)
    remittance = fields.get("REMI", "")
    remittance = re.sub(r"^(?:USTD|STRD)/+", "", remittance)
    memo = clean_text(remittance) or clean_text(raw)
    name = clean_text(fields.get("NAME") or fields.get("ORDP") or "")
    account = clean_account(next((fields[k] for k in _ACCOUNT_KEYS if fields.get(k)), ""))
    return memo, name, account
