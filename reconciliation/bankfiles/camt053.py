"""ISO 20022 camt.053 (BkToCstmrStmt) statements, read with pycamt.

pycamt gives each entry (or each transaction detail of a batched entry) as a dict: booking date,
credit/debit indicator, status, names, IBANs and remittance text. Three things it does not give
reliably are read here from the same lxml tree, walked in the same order:

- the amount and its currency: pycamt replaces the entry amount with the first Amt inside the
  transaction details, which can be the instructed amount in another currency;
- accounts that are not IBANs (Othr/Id), which is how Chinese accounts appear;
- references per transaction detail, so the lines of a batched entry do not share one.

Untrusted XML: a file with a DOCTYPE or ENTITY declaration is refused before any parser sees it, and
so is one whose bytes are not in an ASCII-compatible encoding, where that check could be dodged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lxml import etree
from pycamt.parser import Camt053Parser

from reconciliation.bankfiles.model import BankFileError, BankStatement
from reconciliation.bankfiles.values import (
    DraftLine,
    build_statement,
    clean_account,
    clean_text,
    currency_code,
    decimal_to_fen,
    parse_iso_booking,
)

_DECLARATIONS_RE = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECL_RE = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
# ASCII-compatible, and multi-byte sequences never contain "<" or "!", so a byte search finds every
# declaration. UTF-16/32 (NUL bytes), EBCDIC (does not start with "<") and UTF-7 (not listed) are out.
_SAFE_ENCODINGS = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "gbk", "gb2312", "gb18030"})
_AMOUNT_RE = re.compile(r"\d+(?:\.\d+)?")
_PLACEHOLDER_REFS = frozenset({"NOTPROVIDED", "NONREF", "NONE", "N/A"})
_BOOKED = "BOOK"


def check_xml_is_safe(data: bytes) -> None:
    """Refuses what could make an XML parser expand entities or fetch anything."""
    body = data.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if not body.startswith(b"<") or b"\x00" in data:
        raise BankFileError("camt.053: not an XML document in UTF-8 (or GB18030)")
    if _DECLARATIONS_RE.search(data):
        raise BankFileError("camt.053: DOCTYPE and ENTITY declarations are not accepted")
    declared = _XML_DECL_RE.match(body)
    if declared is not None and declared.group(1).decode("ascii").lower() not in _SAFE_ENCODINGS:
        raise BankFileError("camt.053: the declared encoding is not accepted (use UTF-8)")


@dataclass(frozen=True, slots=True)
class _Detail:
    """The elements one record of pycamt's output came from."""

    entry: Any
    tx: Any  # the TxDtls element, None for an entry without details
    position: int  # 1-based within the entry
    count: int  # transaction details in the entry


def parse_camt053(data: bytes) -> BankStatement:
    check_xml_is_safe(data)
    try:
        camt = Camt053Parser(data)
    except etree.XMLSyntaxError as exc:
        raise BankFileError(f"camt.053: not well-formed XML (line {exc.lineno})") from None
    except Exception:  # lxml raises several types for malformed input; the message may quote it
        raise BankFileError("camt.053: not well-formed XML") from None
    root = camt.tree
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise BankFileError("camt.053: DOCTYPE and ENTITY declarations are not accepted")
    namespace = etree.QName(root).namespace
    # pycamt looks elements up with the root's prefix map; a camt document written with a prefix
    # (<camt:Document>) has no default namespace, so its unprefixed paths would find nothing.
    ns: dict[Any, str] = {None: namespace} if namespace else {}
    camt.namespaces = ns
    if root.find("BkToCstmrStmt", ns) is None:
        raise BankFileError("camt.053: no Document/BkToCstmrStmt element (not a camt.053 statement)")
    statements = root.findall(".//Stmt", ns)
    if not statements:
        raise BankFileError("camt.053: no Stmt element")

    account = _statement_account(statements, ns)
    details = _walk(statements, ns)
    try:
        records = camt.get_transactions()
    except Exception:  # pycamt assumes elements it dereferences exist; a mangled file breaks it anywhere
        raise BankFileError("camt.053: an entry is malformed") from None
    if len(records) != len(details):
        raise BankFileError("camt.053: entries could not be read consistently")
    drafts = []
    for number, (record, detail) in enumerate(zip(records, details, strict=True), start=1):
        draft = _line(number, record, detail, ns)
        if draft is not None:
            drafts.append(draft)
    return build_statement("camt053", account, drafts)


def _walk(statements: list[Any], ns: dict[Any, str]) -> list[_Detail]:
    """The (entry, detail) of each record, in the order pycamt's get_transactions produces them."""
    out: list[_Detail] = []
    for stmt in statements:
        for entry in stmt.findall(".//Ntry", ns):
            txs = [tx for dtls in entry.findall(".//NtryDtls", ns) for tx in dtls.findall(".//TxDtls", ns)]
            if not txs:
                out.append(_Detail(entry, None, 1, 1))
            out.extend(_Detail(entry, tx, i, len(txs)) for i, tx in enumerate(txs, start=1))
    return out


def _statement_account(statements: list[Any], ns: dict[Any, str]) -> str:
    accounts = {_text(stmt, "Acct/Id/IBAN", ns) or _text(stmt, "Acct/Id/Othr/Id", ns) for stmt in statements}
    accounts.discard("")
    if len(accounts) > 1:
        raise BankFileError("camt.053: the file holds statements of more than one account")
    return clean_account(accounts.pop()) if accounts else ""


def _line(number: int, record: dict[str, Any], detail: _Detail, ns: dict[Any, str]) -> DraftLine | None:
    where = f"entry {number}"
    status = str(record.get("Status") or _BOOKED).strip().upper()
    if status != _BOOKED:
        return None  # pending or information-only entries are not money on the account yet
    indicator = str(record.get("CreditDebitIndicator") or "").strip()
    # The counterparty is whoever is on the other side: the debtor of money in, the creditor of money out.
    if indicator == "CRDT":
        sign, party = 1, "Debtor"
    elif indicator == "DBIT":
        sign, party = -1, "Creditor"
    else:
        raise BankFileError(f"{where}: CdtDbtInd is missing or not CRDT/DBIT")

    amount_el = _amount_element(detail, ns)
    if amount_el is None:
        raise BankFileError(f"{where}: no Amt element")
    amount_text = (amount_el.text or "").strip()
    if not _AMOUNT_RE.fullmatch(amount_text):
        raise BankFileError(f"{where}: Amt is not an unsigned decimal amount")
    fen = decimal_to_fen(Decimal(amount_text), where)
    currency = currency_code(amount_el.get("Ccy"), "")
    if not currency:
        raise BankFileError(f"{where}: Amt has no valid Ccy attribute")

    booking = record.get("BookingDate")
    if not booking:
        raise BankFileError(f"{where}: no BookgDt")
    try:
        booked_on, booked_at = parse_iso_booking(str(booking))
    except ValueError:
        raise BankFileError(f"{where}: BookgDt is not a valid date") from None

    payer_name = ""
    payer_account = ""
    if detail.tx is not None:
        tag = "Dbtr" if sign > 0 else "Cdtr"
        payer_name = clean_text(record.get(f"{party}Name"))
        payer_account = clean_account(
            record.get(f"{party}IBAN") or _text(detail.tx, f"RltdPties/{tag}Acct/Id/Othr/Id", ns)
        )
    memo = clean_text(
        record.get("RemittanceInformationFull")
        or record.get("RemittanceInformation")
        or record.get("AdditionalEntryInformation")
    )
    return DraftLine(
        line_no=number,
        where=where,
        bank_ref=_reference(detail, ns),
        booked_on=booked_on,
        booked_at=booked_at,
        amount_fen=sign * fen,
        currency=currency,
        memo=memo,
        payer_name=payer_name,
        payer_account=payer_account,
    )


def _amount_element(detail: _Detail, ns: dict[Any, str]) -> Any:
    # A single detail is the whole entry, whose Amt is what was booked. Only a batch needs the detail's
    # own amount: Amt (camt.053.001.04+) or the transaction amount, never the instructed amount.
    if detail.tx is None or detail.count == 1:
        return detail.entry.find("Amt", ns)
    found = detail.tx.find("Amt", ns)
    return found if found is not None else detail.tx.find("AmtDtls/TxAmt/Amt", ns)


def _reference(detail: _Detail, ns: dict[Any, str]) -> str:
    """The bank's own reference first; the payer's end-to-end id only when the bank gives none."""
    if detail.tx is not None:
        own = _ref_text(detail.tx, "Refs/AcctSvcrRef", ns)
        if own:
            return own
    entry_ref = _ref_text(detail.entry, "AcctSvcrRef", ns)
    if entry_ref:
        return entry_ref if detail.count == 1 else f"{entry_ref}/{detail.position}"
    if detail.tx is not None:
        return _ref_text(detail.tx, "Refs/EndToEndId", ns)
    return ""


def _ref_text(element: Any, path: str, ns: dict[Any, str]) -> str:
    text = "".join(_text(element, path, ns).split())
    return "" if text.upper() in _PLACEHOLDER_REFS else text


def _text(element: Any, path: str, ns: dict[Any, str]) -> str:
    found = element.find(path, ns)
    return (found.text or "").strip() if found is not None else ""
