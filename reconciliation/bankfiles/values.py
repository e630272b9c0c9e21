"""Field values shared by the statement formats: amounts to exact fen, dates and times on the China
clock, currency codes, text decoding, and the statement assembly that fills in missing bank references
and refuses repeated ones.

Every function here either returns a clean value or raises BankFileError naming *where* (a line or
entry label the caller passes in); none of them puts the offending text into the message.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation

from reconciliation.bankfiles.model import BankFileError, BankStatement, BankStatementLine

# Banks state booking days on the China clock; a fixed offset is exact because China has no DST.
CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")
MAX_FEN = 10**13
# A year outside this range is a mangled cell, not a booking: refuse it rather than store it.
MIN_YEAR, MAX_YEAR = 1990, 2100

_AMOUNT_RE = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?")
_CURRENCY_SIGNS = "¥￥"  # both the half- and full-width yuan sign occur in exports
_CURRENCY_ALIASES = {
    "CNY": "CNY",
    "RMB": "CNY",
    "156": "CNY",
    "人民币": "CNY",
    "人民币元": "CNY",
    "本币": "CNY",
    "美元": "USD",
    "港币": "HKD",
    "港元": "HKD",
    "欧元": "EUR",
    "日元": "JPY",
    "英镑": "GBP",
}
_ISO_CURRENCY_RE = re.compile(r"[A-Z]{3}")

_DATE_RE = re.compile(
    r"""(?:
        (?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})
      | (?P<cy>\d{4})年(?P<cm>\d{1,2})月(?P<cd>\d{1,2})日
      | (?P<by>\d{4})(?P<bm>\d{2})(?P<bd>\d{2})
    )
    (?:[ T]*(?P<rest>.+))?""",
    re.VERBOSE | re.DOTALL,
)
_TIME_RE = re.compile(
    r"""(?:
        (?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?)?
      | (?P<ch>\d{1,2})时(?P<cmi>\d{1,2})分(?:(?P<cs>\d{1,2})秒)?
      | (?P<bh>\d{2})(?P<bmi>\d{2})(?P<bs>\d{2})?
    )""",
    re.VERBOSE,
)


def normalize(text: str) -> str:
    """Full-width digits, colons and commas as exports write them, folded to their ASCII forms."""
    return unicodedata.normalize("NFKC", text).strip()


def clean_text(text: str | None) -> str:
    """Memo or name as one line: exports break memos over lines and pad cells with tabs."""
    return " ".join((text or "").split())


def clean_account(text: str | None) -> str:
    # Banks print account numbers in groups of four; the digits are what identifies the account.
    return "".join((text or "").split())


def amount_to_fen(text: str, where: str) -> int:
    """A signed amount as written in a file ("1,234.50", "-12", "¥1234.5") to exact fen."""
    cleaned = normalize(text).replace("\u2212", "-").replace(" ", "")
    for sign in _CURRENCY_SIGNS:
        cleaned = cleaned.replace(sign, "")
    if not _AMOUNT_RE.fullmatch(cleaned):
        raise BankFileError(f"{where}: amount is not a number")
    return decimal_to_fen(Decimal(cleaned.replace(",", "")), where)


def decimal_to_fen(value: Decimal, where: str) -> int:
    try:
        if not value.is_finite():
            raise BankFileError(f"{where}: amount is not a number")
        # Compared before scaling: Decimal arithmetic rounds to 28 digits, and a huge value could
        # otherwise lose its fraction and pass the fen check.
        if abs(value) > Decimal(MAX_FEN) / 100:
            raise BankFileError(f"{where}: amount is above the limit of {MAX_FEN} fen")
        scaled = value * 100
        if scaled != scaled.to_integral_value():
            raise BankFileError(f"{where}: amount has more than 2 decimal places")
        return int(scaled)
    except InvalidOperation:
        raise BankFileError(f"{where}: amount is not a number") from None


def parse_time(text: str) -> time:
    """Raises ValueError; callers turn it into a BankFileError with their location."""
    m = _TIME_RE.fullmatch(normalize(text))
    if m is None:
        raise ValueError("not a time")
    hour = m["h"] or m["ch"] or m["bh"]
    minute = m["mi"] or m["cmi"] or m["bmi"]
    second = m["s"] or m["cs"] or m["bs"] or "0"
    micro = int((m["f"] or "0").ljust(6, "0"))
    return time(int(hour), int(minute), int(second), micro)


def parse_date_time(text: str) -> tuple[date, time | None]:
    """A date, optionally followed by a time, as Chinese exports write them. Raises ValueError."""
    m = _DATE_RE.fullmatch(normalize(text))
    if m is None:
        raise ValueError("not a date")
    year = m["y"] or m["cy"] or m["by"]
    month = m["m"] or m["cm"] or m["bm"]
    day = m["d"] or m["cd"] or m["bd"]
    booked_on = checked_date(int(year), int(month), int(day))
    rest = m["rest"]
    return booked_on, (parse_time(rest) if rest else None)


def checked_date(year: int, month: int, day: int) -> date:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError("year out of range")
    return date(year, month, day)


def china_datetime(booked_on: date, at: time | None) -> datetime:
    return datetime.combine(booked_on, at or time(0), CHINA)


def parse_iso_booking(text: str) -> tuple[date, datetime]:
    """An ISO 20022 Dt or DtTm. A DtTm without offset is read on the China clock; one with an offset
    is moved to it, so booked_on is the China business day. Raises ValueError."""
    text = text.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        checked_date(day.year, day.month, day.day)
        return day, china_datetime(day, None)
    at = datetime.fromisoformat(text)
    # Checked before the shift to +08:00, which overflows at the ends of the datetime range.
    checked_date(at.year, 1, 1)
    at = at.replace(tzinfo=CHINA) if at.tzinfo is None else at.astimezone(CHINA)
    checked_date(at.year, at.month, at.day)
    return at.date(), at


def currency_code(text: str | None, default: str) -> str | None:
    """ISO code for a currency cell ("人民币", "RMB", "cny"), the default for an empty one, None if
    the cell names no currency we know."""
    cleaned = normalize(text or "").upper()
    if not cleaned:
        return default
    if cleaned in _CURRENCY_ALIASES:
        return _CURRENCY_ALIASES[cleaned]
    return cleaned if _ISO_CURRENCY_RE.fullmatch(cleaned) else None


def text_candidates(data: bytes, encoding: str | None = None) -> Iterator[tuple[str, str]]:
    """(encoding, text) readings of the file, most plausible first.

    A byte-order mark settles it. Without one, UTF-8 comes first because GBK text almost never
    decodes as UTF-8, while the converse would garble every Chinese character; GB18030 is the superset
    of GBK and GB2312 that bank exports use.
    """
    if encoding is not None:
        order = [encoding]
    elif data.startswith(b"\xef\xbb\xbf"):
        order = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        order = ["utf-16"]
    else:
        order = ["utf-8", "gb18030"]
    for name in order:
        try:
            text = data.decode(name)
        except UnicodeError:  # codecs such as idna raise the base class
            continue
        yield name, text.removeprefix("\ufeff")


@dataclass(frozen=True, slots=True)
class DraftLine:
    """A line as parsed, before the statement assembly gives it a reference."""

    line_no: int
    where: str  # "line 12", "entry 3": how error messages name it
    bank_ref: str  # "" when the file states none
    booked_on: date
    booked_at: datetime
    amount_fen: int
    currency: str
    memo: str
    payer_name: str
    payer_account: str


def digest_ref(
    booked_on: date, amount_fen: int, currency: str, memo: str, payer_name: str, payer_account: str, n: int
) -> str:
    """A reference for a line the bank gave none: the same file read again gives the same references,
    and `n` (earlier identical lines in the file) keeps two identical transfers apart."""
    payload = json.dumps(
        [booked_on.isoformat(), amount_fen, currency, memo, payer_name, payer_account, n],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def build_statement(fmt: str, account: str, drafts: Iterable[DraftLine]) -> BankStatement:
    """Skips zero lines, fills in digest references and refuses a file that repeats a bank reference.

    The import stores one line per (account, reference): a repeated reference would silently drop a
    transfer, so the file is refused instead and someone looks at it.
    """
    seen_refs: dict[str, str] = {}
    identical: dict[tuple[object, ...], int] = {}
    lines: list[BankStatementLine] = []
    for d in drafts:
        if d.amount_fen == 0:
            continue
        key = (d.booked_on, d.amount_fen, d.currency, d.memo, d.payer_name, d.payer_account)
        n = identical.get(key, 0)
        identical[key] = n + 1
        ref = d.bank_ref.strip()
        if ref:
            if ref in seen_refs:
                raise BankFileError(f"{d.where}: repeats the bank reference of {seen_refs[ref]}")
            seen_refs[ref] = d.where
        else:
            ref = digest_ref(*key, n)
        lines.append(
            BankStatementLine(
                line_no=d.line_no,
                bank_ref=ref,
                booked_on=d.booked_on,
                booked_at=d.booked_at,
                amount_fen=d.amount_fen,
                currency=d.currency,
                memo=d.memo,
                payer_name=d.payer_name,
                payer_account=d.payer_account,
            )
        )
    return BankStatement(format=fmt, account=account, lines=tuple(lines))
