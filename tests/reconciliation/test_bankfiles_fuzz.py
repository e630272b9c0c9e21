"""Fuzzing the statement parsers: arbitrary bytes and mutated valid files either parse into a statement
that keeps the model's invariants or raise BankFileError; nothing else escapes.

Runs are derandomized (the same examples every run) and bounded, so a failure reproduces as is.
"""

from __future__ import annotations

import re
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.bankfiles import CSV_PRESETS, BankFileError, BankStatement, CsvMapping, parse_bank_file

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

MAPPING = CSV_PRESETS["debit_credit_columns"]
SIGNED = CsvMapping(
    date="交易日期", amount="交易金额", direction="借贷", credit_marks=("贷",), debit_marks=("借",)
)

CSV_SAMPLE = (
    "账户名称:,测试公司\n账号:,6222000000000009999\n"
    "交易日期,交易时间,借方发生额,贷方发生额,对方户名,对方账号,摘要,用途,交易流水号\n"
    '2026-03-01,10:23:05,,"1,234.50",测试甲,="6222000000000001234",转账,还款\t,SN001\n'
    "20260302,,20.00,,测试乙,6222000000000005678,手续费,,\n"
    "合计,,20.00,1234.50,,,,,\n共 2 笔,,,,,,,,\n"
).encode("gbk")
SIGNED_SAMPLE = "交易日期,交易金额,借贷\n2026/03/01 08:00,5.00,贷\n2026/03/02,1.00,借\n".encode()

CAMT_SAMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-03-02T08:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><Acct><Id><Othr><Id>6222000000000009999</Id></Othr></Id></Acct>
<Ntry><Amt Ccy="CNY">1234.50</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-03-01</Dt></BookgDt><AcctSvcrRef>R1</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><EndToEndId>E1</EndToEndId></Refs>
<RltdPties><Dbtr><Nm>TEST JIA</Nm></Dbtr><DbtrAcct><Id><Othr><Id>6222000000000001234</Id></Othr></Id></DbtrAcct></RltdPties>
<RmtInf><Ustrd>HT-0001</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="CNY">20.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><DtTm>2026-03-01T15:30:00+08:00</DtTm></BookgDt>
<NtryDtls><TxDtls><AmtDtls><TxAmt><Amt Ccy="CNY">20.00</Amt></TxAmt></AmtDtls></TxDtls>
<TxDtls><AmtDtls><TxAmt><Amt Ccy="CNY">0.00</Amt></TxAmt></AmtDtls></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>
"""

MT940_SAMPLE = (
    b":20:STMT1\r\n:25:6222000000000009999\r\n:28C:1/1\r\n:60F:C260228CNY10000,00\r\n"
    b":61:2603010301C1234,50NTRFNONREF//BR0001\r\n:86:/NAME/TEST JIA/ACCT/6222000000000001234/REMI/HT-0001/\r\n"
    b":61:2603010301D20,00NCHGNONREF\r\n:86:166?00FEE?20CHARGE?316222000000000005678?32TEST YI\r\n"
    b":61:260301RC1,00NTRF\r\n:62F:C260301CNY11214,50\r\n-"
)

# Fragments that matter to the parsers, to splice in where random bytes would rarely reach.
TOKENS = [
    ",", "\n", "\r", "\t", '"', '="', "=", ":", "-", "+", ".", "0", "9", "1,234.5", "0.001", "99999999999999",
    "合计", "共", "贷", "借", "2026-02-30", "20261301", "24:00", "测试甲",
    "<", ">", "/>", "&amp;", "&x;", "<Ntry>", "</Ntry>", "<TxDtls>", "</TxDtls>", "<Stmt>", "CRDT", "DBIT",
    "PDNG", 'Ccy="XX"', "<!DOCTYPE a>", "<![CDATA[x]]>",
    ":20:", ":25:", ":61:", ":86:", "?20", "?31", "/NAME/", "/REMI/", "RC", "RD", "NONREF", "//", "C", "D",
]  # fmt: skip


def check(statement: BankStatement) -> None:
    assert isinstance(statement, BankStatement)
    assert statement.format in ("csv", "camt053", "mt940")
    refs = [line.bank_ref for line in statement.lines]
    assert len(refs) == len(set(refs)) and all(refs)
    for line in statement.lines:
        assert line.line_no >= 1
        assert line.amount_fen != 0 and abs(line.amount_fen) <= 10**13
        assert line.booked_at.utcoffset() == timedelta(hours=8)
        assert line.booked_at.date() == line.booked_on
        assert re.fullmatch(r"[A-Z]{3}", line.currency)


def parse_or_refuse(data: bytes, fmt: str | None, mapping: CsvMapping | None = MAPPING) -> None:
    try:
        statement = parse_bank_file(data, fmt, mapping)
    except BankFileError:
        return
    check(statement)


@st.composite
def byte_mutations(draw: st.DrawFn, sample: bytes) -> bytes:
    data = bytearray(sample)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate"]))
        if op == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@st.composite
def token_mutations(draw: st.DrawFn, sample: bytes, encoding: str) -> bytes:
    text = sample.decode(encoding)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at + cut :]
    return text.encode(encoding)


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_as_csv_are_parsed_or_refused(data: bytes) -> None:
    parse_or_refuse(data, "csv")


@FUZZ
@given(byte_mutations(CSV_SAMPLE))
def test_byte_mutated_csv_is_parsed_or_refused(data: bytes) -> None:
    parse_or_refuse(data, "csv")


@FUZZ
@given(token_mutations(CSV_SAMPLE, "gbk"))
def test_token_mutated_csv_is_parsed_or_refused(data: bytes) -> None:
    parse_or_refuse(data, "csv")


@FUZZ
@given(token_mutations(SIGNED_SAMPLE, "utf-8"))
def test_token_mutated_direction_csv_is_parsed_or_refused(data: bytes) -> None:
    parse_or_refuse(data, "csv", SIGNED)


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_as_camt053_are_parsed_or_refused(data: bytes) -> None:
    parse_or_refuse(data, "camt053")


@FUZZ
@given(byte_mutations(CAMT_SAMPLE))
def test_byte_mutated_camt053_is_parsed_or_refused(data: bytes) -> None:
    parse_or_refuse(data, "camt053")


@FUZZ
@given(token_mutations(CAMT_SAMPLE, "utf-8"))
def test_token_mutated_camt053_is_parsed_or_refused(data: bytes) -> None:
    parse_or_refuse(data, "camt053")


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_as_mt940_are_parsed_or_refused(data: bytes) -> None:
    parse_or_refuse(data, "mt940")


@FUZZ
@given(byte_mutations(MT940_SAMPLE))
def test_byte_mutated_mt940_is_parsed_or_refused(data: bytes) -> None:
    parse_or_refuse(data, "mt940")


@FUZZ
@given(token_mutations(MT940_SAMPLE, "utf-8"))
def test_token_mutated_mt940_is_parsed_or_refused(data: bytes) -> None:
    parse_or_refuse(data, "mt940")


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=2000),
        byte_mutations(CSV_SAMPLE),
        byte_mutations(CAMT_SAMPLE),
        byte_mutations(MT940_SAMPLE),
    )
)
def test_detected_format_is_parsed_or_refused(data: bytes) -> None:
    parse_or_refuse(data, None)


def test_unmutated_samples_parse() -> None:
    assert len(parse_bank_file(CSV_SAMPLE, None, MAPPING).lines) == 2
    assert len(parse_bank_file(SIGNED_SAMPLE, "csv", SIGNED).lines) == 2
    assert len(parse_bank_file(CAMT_SAMPLE).lines) == 2
    assert len(parse_bank_file(MT940_SAMPLE).lines) == 3
