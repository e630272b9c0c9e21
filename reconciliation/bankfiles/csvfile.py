"""CSV statement exports of Chinese banks, read through a column mapping.

Exports differ per bank and even per channel of one bank, so nothing here assumes a layout: a
`CsvMapping` names the header cells that hold each field, the header row is the first row holding all
of them, and everything above it is preamble (account name, number, period). Below it, a row whose
date cell holds no date is skipped when it is blank or starts with a summary marker (合计, 共 N 笔,
...), and refused otherwise, so a malformed transaction is never dropped silently.

Amounts come in one of three shapes: separate credit and debit columns (贷方/借方, 收入/支出), one
signed column, or an unsigned column with a direction column (借/贷).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import time
from types import MappingProxyType
from typing import Any

from reconciliation.bankfiles.model import BankFileError, BankStatement
from reconciliation.bankfiles.values import (
    DraftLine,
    amount_to_fen,
    build_statement,
    china_datetime,
    clean_account,
    clean_text,
    currency_code,
    normalize,
    parse_date_time,
    parse_time,
    text_candidates,
)

DEFAULT_SKIP_MARKERS = (
    "合计",
    "总计",
    "小计",
    "本页",
    "本日",
    "本月",
    "本期",
    "汇总",
    "共",
    "总笔数",
    "笔数",
    "期初",
    "期末",
    "上日",
    "上期",
    "承前",
    "过次页",
    "以下",
    "截止",
    "打印",
    "制表",
    "经办",
    "复核",
    "说明",
    "注:",
    "备注:",
    "第",
)
DEFAULT_ACCOUNT_LABELS = (
    "账号",
    "帐号",
    "账户",
    "帐户",
    "本方账号",
    "查询账号",
    "账户号码",
    "卡号",
    "account",
    "accountno",
)
_DELIMITERS = (",", "\t", ";")
_EXCEL_TEXT_RE = re.compile(r'="(.*)"', re.DOTALL)
# An account number as printed in a preamble: digits, maybe masked with *, maybe a letter prefix.
_ACCOUNT_RE = re.compile(r"(?=(?:[^0-9]*[0-9]){4})[0-9A-Za-z*-]{4,40}")


def _fold(text: str) -> str:
    return "".join(normalize(text).split()).casefold()


@dataclass(frozen=True, slots=True)
class CsvMapping:
    """Which header cell holds which field. Header names are compared after folding full-width
    characters, case and whitespace, so "贷方发生额（元）" matches "贷方发生额(元)".

    Amounts: either `credit` and `debit` (two unsigned columns), or `amount` alone (signed), or
    `amount` with `direction` and both `credit_marks` and `debit_marks` (the values of the direction
    column; a value in neither set is an error rather than a guess).

    Every column named here must be in the header row. `encoding` and `delimiter` default to
    detection (UTF-8 with or without BOM, UTF-16 with BOM, GB18030/GBK; comma, tab or semicolon).
    """

    date: str
    time: str | None = None
    amount: str | None = None
    credit: str | None = None
    debit: str | None = None
    direction: str | None = None
    credit_marks: tuple[str, ...] = ()
    debit_marks: tuple[str, ...] = ()
    currency: str | None = None
    default_currency: str = "CNY"
    memo: tuple[str, ...] = ()  # several columns (摘要, 附言, 用途) are joined with a space
    payer_name: str | None = None
    payer_account: str | None = None
    bank_ref: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    skip_markers: tuple[str, ...] = DEFAULT_SKIP_MARKERS
    account_labels: tuple[str, ...] = DEFAULT_ACCOUNT_LABELS

    def __post_init__(self) -> None:
        if not isinstance(self.date, str) or not self.date.strip():
            raise BankFileError("csv mapping: date column is required")
        split = self.credit is not None or self.debit is not None
        if split:
            if self.credit is None or self.debit is None:
                raise BankFileError("csv mapping: credit and debit columns go together")
            if self.amount is not None or self.direction is not None:
                raise BankFileError("csv mapping: use either credit/debit columns or an amount column")
        elif self.amount is None:
            raise BankFileError("csv mapping: needs credit and debit columns, or an amount column")
        if self.direction is not None and not (self.credit_marks and self.debit_marks):
            raise BankFileError("csv mapping: a direction column needs credit_marks and debit_marks")
        if self.direction is None and (self.credit_marks or self.debit_marks):
            raise BankFileError("csv mapping: credit_marks and debit_marks need a direction column")
        if {_fold(m) for m in self.credit_marks} & {_fold(m) for m in self.debit_marks}:
            raise BankFileError("csv mapping: a mark is both a credit and a debit mark")
        default_currency = currency_code(self.default_currency, "")
        if not default_currency:
            raise BankFileError("csv mapping: default_currency is not a currency code")
        object.__setattr__(self, "default_currency", default_currency)  # "rmb" and "人民币" mean CNY
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise BankFileError("csv mapping: delimiter must be one character")
        if self.encoding is not None:
            try:
                # One byte: decoding b"" skips the codec lookup, and only a real decode refuses
                # codecs that exist but are not text encodings (rot13, base64).
                b"x".decode(self.encoding)
            except LookupError:
                raise BankFileError("csv mapping: unknown encoding") from None
            except UnicodeError:
                pass  # a text encoding in which one byte is incomplete (UTF-16)
        names = [_fold(n) for n in self.columns().values()]
        if any(not n for n in names):
            raise BankFileError("csv mapping: a column name is empty")
        if len(names) != len(set(names)):
            raise BankFileError("csv mapping: two fields name the same column")

    def columns(self) -> dict[str, str]:
        """Field key -> header name, for every column this mapping needs."""
        single = {
            "date": self.date,
            "time": self.time,
            "amount": self.amount,
            "credit": self.credit,
            "debit": self.debit,
            "direction": self.direction,
            "currency": self.currency,
            "payer_name": self.payer_name,
            "payer_account": self.payer_account,
            "bank_ref": self.bank_ref,
        }
        out = {k: v for k, v in single.items() if v is not None}
        out.update({f"memo{i}": name for i, name in enumerate(self.memo)})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CsvMapping:
        """From plain config (a TOML table): strings, and strings or lists of strings for memo and the
        mark/label lists. `preset = "<name>"` starts from one of CSV_PRESETS and overrides its keys."""
        data = dict(data)
        preset = data.pop("preset", None)
        base: dict[str, Any] = {}
        if preset is not None:
            if not isinstance(preset, str) or preset not in CSV_PRESETS:
                raise BankFileError(f"csv mapping: unknown preset; known: {', '.join(sorted(CSV_PRESETS))}")
            base = {f.name: getattr(CSV_PRESETS[preset], f.name) for f in fields(cls)}
        known = {f.name for f in fields(cls)}
        for key, value in data.items():
            if key not in known:
                raise BankFileError(f"csv mapping: unknown key {key!r}")
            base[key] = _config_value(key, value)
        try:
            return cls(**base)
        except TypeError:
            raise BankFileError("csv mapping: the date key and an amount layout are required") from None


_TUPLE_KEYS = frozenset({"memo", "credit_marks", "debit_marks", "skip_markers", "account_labels"})


def _config_value(key: str, value: Any) -> Any:
    if key in _TUPLE_KEYS:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
            raise BankFileError(f"csv mapping: {key} must be a string or a list of strings")
        return tuple(items)
    if value is not None and not isinstance(value, str):
        raise BankFileError(f"csv mapping: {key} must be a string")
    # TOML has no null: an empty string removes a column a preset names.
    return value or None


# Examples of common layouts, to start a mapping from. They are not any bank's official format:
# check the header row of the actual export and override what differs.
CSV_PRESETS: Mapping[str, CsvMapping] = MappingProxyType(
    {
        # Corporate account detail export with 借方发生额 / 贷方发生额 columns.
        "debit_credit_columns": CsvMapping(
            date="交易日期",
            time="交易时间",
            debit="借方发生额",
            credit="贷方发生额",
            payer_name="对方户名",
            payer_account="对方账号",
            memo=("摘要", "用途"),
            bank_ref="交易流水号",
        ),
        # Account history with 收入 / 支出 columns and the date and time in one cell.
        "income_expense_columns": CsvMapping(
            date="交易时间",
            credit="收入金额",
            debit="支出金额",
            currency="币种",
            payer_name="对方户名",
            payer_account="对方账号",
            memo=("摘要", "附言"),
            bank_ref="流水号",
        ),
        # One unsigned amount column and a 借/贷 direction column.
        "amount_with_direction": CsvMapping(
            date="记账日期",
            amount="交易金额",
            direction="借贷标志",
            credit_marks=("贷", "贷方", "C", "CR"),
            debit_marks=("借", "借方", "D", "DR"),
            payer_name="对方户名",
            payer_account="对方账号",
            memo=("摘要", "附言"),
            bank_ref="流水号",
        ),
    }
)


def _cell(raw: str) -> str:
    """Cell text without the padding exports add to stop Excel from reformatting it: a trailing
    tab, or a ="..." formula wrapper around account numbers and references."""
    text = raw.strip()
    m = _EXCEL_TEXT_RE.fullmatch(text)
    if m is not None:
        text = m.group(1).replace('""', '"').strip()
    return text


@dataclass(slots=True)
class _Table:
    rows: list[tuple[int, list[str]]]  # (1-based line where the record starts, cleaned cells)
    header_at: int = -1  # index into rows
    columns: dict[str, int] = field(default_factory=dict)  # field key -> cell index
    missing: list[str] = field(default_factory=list)  # mapped header names absent from the best row


def parse_csv(data: bytes, mapping: CsvMapping) -> BankStatement:
    best: _Table | None = None
    decoded = False
    for _encoding, text in text_candidates(data, mapping.encoding):
        decoded = True
        for delimiter in (mapping.delimiter,) if mapping.delimiter else _DELIMITERS:
            table = _read_table(text, delimiter, mapping)
            if table.header_at >= 0:
                return _statement(table, mapping)
            if best is None or len(table.missing) < len(best.missing):
                best = table
    if not decoded:
        raise BankFileError("csv: the file is not text in a supported encoding (UTF-8, UTF-16, GB18030/GBK)")
    assert best is not None
    raise BankFileError(f"csv: no header row with the mapped columns; missing: {', '.join(best.missing)}")


def _read_table(text: str, delimiter: str, mapping: CsvMapping) -> _Table:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for record in reader:
            rows.append((start, [_cell(c) for c in record]))
            start = reader.line_num + 1
    except csv.Error:
        raise BankFileError(f"csv: line {start}: malformed CSV record") from None
    table = _Table(rows=rows)
    names = mapping.columns()
    wanted = {key: _fold(name) for key, name in names.items()}
    table.missing = list(names.values())
    for index, (line, cells) in enumerate(rows):
        folded = [_fold(c) for c in cells]
        present = {key: name for key, name in wanted.items() if name in folded}
        missing = [names[key] for key in wanted if key not in present]
        if len(missing) < len(table.missing):
            table.missing = missing
        if missing:
            continue
        for key, name in present.items():
            if folded.count(name) > 1:
                raise BankFileError(f"csv: line {line}: column {names[key]} appears twice in the header")
            table.columns[key] = folded.index(name)
        table.header_at = index
        break
    return table


def _statement(table: _Table, mapping: CsvMapping) -> BankStatement:
    _, header = table.rows[table.header_at]
    folded_header = [_fold(c) for c in header]
    account = _preamble_account((cells for _, cells in table.rows[: table.header_at]), mapping.account_labels)
    markers = tuple(_fold(m) for m in mapping.skip_markers if _fold(m))
    width = max(i for i, c in enumerate(header) if c) + 1
    drafts: list[DraftLine] = []
    for line, cells in table.rows[table.header_at + 1 :]:
        if not any(cells):
            continue
        if [_fold(c) for c in cells] == folded_header:
            continue  # the header repeated on each page of a multi-page export
        draft = _data_row(line, cells, width, table.columns, mapping, markers)
        if draft is not None:
            drafts.append(draft)
    return build_statement("csv", account, drafts)


def _data_row(
    line: int,
    cells: list[str],
    width: int,
    columns: dict[str, int],
    mapping: CsvMapping,
    markers: Sequence[str],
) -> DraftLine | None:
    where = f"line {line}"

    def get(key: str) -> str:
        index = columns.get(key)
        return cells[index] if index is not None and index < len(cells) else ""

    date_text = get("date")
    try:
        booked_on, at = parse_date_time(date_text)
    except ValueError:
        if _is_summary(cells, markers):
            return None
        raise BankFileError(
            f"{where}: column {mapping.date} holds no valid date"
            " (if this is a summary row, add its first word to skip_markers)"
        ) from None
    if any(cells[width:]):
        # An unquoted comma in a memo shifts every later cell: an amount could land in an unmapped
        # column and the transfer vanish as a zero line.
        raise BankFileError(f"{where}: more cells than the header (an unquoted delimiter inside a cell?)")
    if mapping.time is not None and get("time"):
        try:
            at = _time_cell(get("time"))
        except ValueError:
            raise BankFileError(f"{where}: column {mapping.time} holds no valid time") from None

    amount_fen = _amount(where, get, mapping)
    if amount_fen == 0:
        return None
    currency = currency_code(get("currency"), mapping.default_currency)
    if currency is None:
        raise BankFileError(f"{where}: column {mapping.currency} holds no known currency")
    memo = " ".join(filter(None, (clean_text(get(f"memo{i}")) for i in range(len(mapping.memo)))))
    return DraftLine(
        line_no=line,
        where=where,
        bank_ref=clean_account(get("bank_ref")),
        booked_on=booked_on,
        booked_at=china_datetime(booked_on, at),
        amount_fen=amount_fen,
        currency=currency,
        memo=memo,
        payer_name=clean_text(get("payer_name")),
        payer_account=clean_account(get("payer_account")),
    )


def _time_cell(text: str) -> time:
    """A time column sometimes repeats the date ("2026-03-01 14:23:05"): take its time part."""
    try:
        return parse_time(text)
    except ValueError:
        _day, at = parse_date_time(text)
        if at is None:
            raise
        return at


def _amount(where: str, get: Any, mapping: CsvMapping) -> int:
    if mapping.credit is not None and mapping.debit is not None:
        credit = _unsigned(where, get("credit"), mapping.credit)
        debit = _unsigned(where, get("debit"), mapping.debit)
        if credit and debit:
            raise BankFileError(f"{where}: both {mapping.credit} and {mapping.debit} hold an amount")
        return credit - debit
    assert mapping.amount is not None
    text = get("amount")
    if not text:
        raise BankFileError(f"{where}: column {mapping.amount} is empty")
    fen = amount_to_fen(text, f"{where}, column {mapping.amount}")
    if mapping.direction is None or fen == 0:
        return fen
    if fen < 0:
        raise BankFileError(
            f"{where}: column {mapping.amount} is negative although {mapping.direction} gives the direction"
        )
    mark = _fold(get("direction"))
    if mark in {_fold(m) for m in mapping.credit_marks}:
        return fen
    if mark in {_fold(m) for m in mapping.debit_marks}:
        return -fen
    raise BankFileError(f"{where}: column {mapping.direction} holds neither a credit nor a debit mark")


def _unsigned(where: str, text: str, column: str) -> int:
    # Exports print an empty side of a debit/credit pair as blank, 0.00 or a dash.
    if text in ("", "-", "--", "—"):
        return 0
    fen = amount_to_fen(text, f"{where}, column {column}")
    if fen < 0:
        raise BankFileError(f"{where}: column {column} holds a negative amount")
    return fen


def _is_summary(cells: list[str], markers: Sequence[str]) -> bool:
    return any(_fold(c).startswith(markers) for c in cells if c)


def _preamble_account(rows: Iterable[list[str]], labels: Sequence[str]) -> str:
    """The account number a preamble states as "账号：6222..." in one cell or "账号," + next cell."""
    folded_labels = [_fold(label).rstrip(":") for label in labels]
    for cells in rows:
        for i, cell in enumerate(cells):
            folded = _fold(cell)
            for label in folded_labels:
                if folded.rstrip(":") == label:
                    value = next((c for c in cells[i + 1 :] if c), "")
                elif folded.startswith(label + ":"):
                    value = normalize(cell).split(":", 1)[1]
                else:
                    continue
                account = clean_account(value)
                if _ACCOUNT_RE.fullmatch(account):
                    return account
    return ""


__all__ = ["CSV_PRESETS", "DEFAULT_ACCOUNT_LABELS", "DEFAULT_SKIP_MARKERS", "CsvMapping", "parse_csv"]
