"""camt.053 statements: a small camt.053.001.02 document written here, with fake parties."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from reconciliation.bankfiles import BankFileError, detect_format, parse_bank_file

CN = timezone(timedelta(hours=8))
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"

CREDIT = """
<Ntry>
  <Amt Ccy="CNY">1234.50</Amt>
  <CdtDbtInd>CRDT</CdtDbtInd>
  <Sts>BOOK</Sts>
  <BookgDt><Dt>2026-03-01</Dt></BookgDt>
  <ValDt><Dt>2026-03-01</Dt></ValDt>
  <AcctSvcrRef>BANKREF-0001</AcctSvcrRef>
  <BkTxCd><Prtry><Cd>TRF</Cd></Prtry></BkTxCd>
  <NtryDtls><TxDtls>
    <Refs><EndToEndId>E2E-0001</EndToEndId></Refs>
    <AmtDtls><InstdAmt><Amt Ccy="USD">170.00</Amt></InstdAmt></AmtDtls>
    <RltdPties>
      <Dbtr><Nm>测试甲</Nm></Dbtr>
      <DbtrAcct><Id><Othr><Id>6222000000000001234</Id></Othr></Id></DbtrAcct>
    </RltdPties>
    <RmtInf><Ustrd>还款 合同</Ustrd><Ustrd>HT-0001</Ustrd></RmtInf>
  </TxDtls></NtryDtls>
</Ntry>"""

DEBIT = """
<Ntry>
  <Amt Ccy="CNY">20.00</Amt>
  <CdtDbtInd>DBIT</CdtDbtInd>
  <Sts>BOOK</Sts>
  <BookgDt><DtTm>2026-03-01T15:30:00+08:00</DtTm></BookgDt>
  <ValDt><Dt>2026-03-01</Dt></ValDt>
  <AcctSvcrRef>BANKREF-0002</AcctSvcrRef>
  <BkTxCd><Prtry><Cd>FEE</Cd></Prtry></BkTxCd>
  <NtryDtls><TxDtls>
    <RltdPties>
      <Cdtr><Nm>测试乙</Nm></Cdtr>
      <CdtrAcct><Id><IBAN>CN00TEST0000000000000001</IBAN></Id></CdtrAcct>
    </RltdPties>
    <RmtInf><Ustrd>手续费</Ustrd></RmtInf>
  </TxDtls></NtryDtls>
</Ntry>"""


def camt(
    *entries: str, account: str = "<Othr><Id>6222000000000009999</Id></Othr>", prolog: str = ""
) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + prolog + f'<Document xmlns="{NS}"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-03-02T08:00:00+08:00</CreDtTm></GrpHdr>"
        "<Stmt><Id>STMT-1</Id><CreDtTm>2026-03-02T08:00:00+08:00</CreDtTm>"
        f"<Acct><Id>{account}</Id><Ccy>CNY</Ccy></Acct>"
        + "".join(entries)
        + "</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def test_credit_and_debit_entries_become_signed_lines() -> None:
    statement = parse_bank_file(camt(CREDIT, DEBIT), "camt053")
    assert statement.format == "camt053"
    assert [(line.line_no, line.amount_fen, line.currency, line.bank_ref) for line in statement.lines] == [
        (1, 123450, "CNY", "BANKREF-0001"),
        (2, -2000, "CNY", "BANKREF-0002"),
    ]


def test_credit_entry_carries_the_debtor_and_remittance_text() -> None:
    line = parse_bank_file(camt(CREDIT), "camt053").lines[0]
    assert (line.payer_name, line.payer_account, line.memo) == (
        "测试甲",
        "6222000000000001234",
        "还款 合同 HT-0001",
    )
    assert (line.booked_on, line.booked_at) == (date(2026, 3, 1), datetime(2026, 3, 1, tzinfo=CN))


def test_debit_entry_carries_the_creditor_as_counterparty() -> None:
    line = parse_bank_file(camt(DEBIT), "camt053").lines[0]
    assert (line.payer_name, line.payer_account) == ("测试乙", "CN00TEST0000000000000001")
    assert line.booked_at == datetime(2026, 3, 1, 15, 30, tzinfo=CN)


def test_instructed_amount_in_another_currency_does_not_replace_the_booked_amount() -> None:
    line = parse_bank_file(camt(CREDIT), "camt053").lines[0]
    assert (line.amount_fen, line.currency) == (123450, "CNY")


def test_statement_account_is_read_from_othr_id_or_iban() -> None:
    assert parse_bank_file(camt(CREDIT), "camt053").account == "6222000000000009999"
    assert parse_bank_file(
        camt(CREDIT, account="<IBAN>CN00TEST0000000000009999</IBAN>"), "camt053"
    ).account == ("CN00TEST0000000000009999")


def test_booking_time_in_utc_is_moved_to_the_china_day() -> None:
    entry = DEBIT.replace("2026-03-01T15:30:00+08:00", "2026-03-01T20:00:00Z")
    line = parse_bank_file(camt(entry), "camt053").lines[0]
    assert (line.booked_on, line.booked_at) == (date(2026, 3, 2), datetime(2026, 3, 2, 4, 0, tzinfo=CN))


def test_end_to_end_id_is_the_reference_when_the_bank_gives_none() -> None:
    entry = CREDIT.replace("<AcctSvcrRef>BANKREF-0001</AcctSvcrRef>", "")
    assert parse_bank_file(camt(entry), "camt053").lines[0].bank_ref == "E2E-0001"


def test_entry_without_any_reference_gets_a_stable_digest() -> None:
    entry = CREDIT.replace("<AcctSvcrRef>BANKREF-0001</AcctSvcrRef>", "").replace("E2E-0001", "NOTPROVIDED")
    first = parse_bank_file(camt(entry, entry), "camt053")
    again = parse_bank_file(camt(entry, entry), "camt053")
    refs = [line.bank_ref for line in first.lines]
    assert refs == [line.bank_ref for line in again.lines]
    assert len(set(refs)) == 2 and all(len(ref) == 32 for ref in refs)


def test_batched_entry_gives_one_line_per_transaction_detail_with_its_own_amount() -> None:
    batch = """
    <Ntry>
      <Amt Ccy="CNY">300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
      <BookgDt><Dt>2026-03-01</Dt></BookgDt><AcctSvcrRef>BATCH-1</AcctSvcrRef>
      <NtryDtls>
        <TxDtls><AmtDtls><TxAmt><Amt Ccy="CNY">100.00</Amt></TxAmt></AmtDtls>
          <RltdPties><Dbtr><Nm>测试甲</Nm></Dbtr></RltdPties></TxDtls>
        <TxDtls><AmtDtls><TxAmt><Amt Ccy="CNY">200.00</Amt></TxAmt></AmtDtls>
          <RltdPties><Dbtr><Nm>测试乙</Nm></Dbtr></RltdPties></TxDtls>
      </NtryDtls>
    </Ntry>"""
    lines = parse_bank_file(camt(batch), "camt053").lines
    assert [(line.amount_fen, line.payer_name, line.bank_ref) for line in lines] == [
        (10000, "测试甲", "BATCH-1/1"),
        (20000, "测试乙", "BATCH-1/2"),
    ]


def test_pending_entries_are_not_lines() -> None:
    pending = CREDIT.replace("<Sts>BOOK</Sts>", "<Sts>PDNG</Sts>").replace("BANKREF-0001", "BANKREF-9")
    statement = parse_bank_file(camt(pending, DEBIT), "camt053")
    assert [line.line_no for line in statement.lines] == [2]


def test_prefixed_camt_namespace_is_read() -> None:
    plain = camt(CREDIT).decode()
    prefixed = plain.replace(f'xmlns="{NS}"', f'xmlns:c="{NS}"')
    prefixed = prefixed.replace("<", "<c:").replace("<c:/", "</c:").replace("<c:?xml", "<?xml")
    assert parse_bank_file(prefixed.encode(), "camt053").lines[0].amount_fen == 123450


def test_doctype_is_refused_before_parsing() -> None:
    xxe = '<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    with pytest.raises(BankFileError, match="DOCTYPE"):
        parse_bank_file(camt(CREDIT.replace("还款 合同", "&x;"), prolog=xxe), "camt053")


def test_billion_laughs_is_refused() -> None:
    bomb = '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
    with pytest.raises(BankFileError, match="DOCTYPE"):
        parse_bank_file(camt(CREDIT.replace("还款 合同", "&lol2;"), prolog=bomb), "camt053")


def test_utf16_encoded_xml_is_refused() -> None:
    with pytest.raises(BankFileError, match="UTF-8"):
        parse_bank_file(camt(CREDIT).decode().replace("UTF-8", "UTF-16").encode("utf-16"), "camt053")


def test_unlisted_declared_encoding_is_refused() -> None:
    with pytest.raises(BankFileError, match="encoding"):
        parse_bank_file(camt(CREDIT).replace(b'encoding="UTF-8"', b'encoding="UTF-7"'), "camt053")


def test_malformed_xml_is_refused_with_its_line() -> None:
    with pytest.raises(BankFileError, match=r"not well-formed XML \(line \d+\)"):
        parse_bank_file(camt(CREDIT).replace(b"</Stmt>", b""), "camt053")


def test_xml_that_is_not_a_statement_is_refused() -> None:
    with pytest.raises(BankFileError, match="BkToCstmrStmt"):
        parse_bank_file(b"<Document><Other/></Document>", "camt053")


def test_wrong_credit_debit_indicator_is_refused_with_the_entry() -> None:
    with pytest.raises(BankFileError, match="entry 2: CdtDbtInd"):
        parse_bank_file(camt(CREDIT, DEBIT.replace("DBIT", "MAYBE")), "camt053")


def test_amount_with_more_than_two_decimals_is_refused() -> None:
    with pytest.raises(BankFileError, match="entry 1: amount has more than 2 decimal places"):
        parse_bank_file(camt(CREDIT.replace("1234.50", "1234.505")), "camt053")


def test_entry_without_booking_date_is_refused() -> None:
    with pytest.raises(BankFileError, match="entry 1: no BookgDt"):
        parse_bank_file(camt(CREDIT.replace("<BookgDt><Dt>2026-03-01</Dt></BookgDt>", "")), "camt053")


def test_statements_of_two_accounts_in_one_file_are_refused() -> None:
    second = "<Stmt><Id>S2</Id><Acct><Id><Othr><Id>6222000000000008888</Id></Othr></Id></Acct></Stmt>"
    data = camt(CREDIT).replace(b"</BkToCstmrStmt>", second.encode() + b"</BkToCstmrStmt>")
    with pytest.raises(BankFileError, match="more than one account"):
        parse_bank_file(data, "camt053")


def test_detect_format_recognises_camt053() -> None:
    assert detect_format(camt(CREDIT)) == "camt053"
    assert detect_format(b"\xef\xbb\xbf" + camt(CREDIT)) == "camt053"


def test_detect_format_refuses_other_xml() -> None:
    with pytest.raises(BankFileError, match=r"not a camt\.053"):
        detect_format(b"<?xml version='1.0'?><invoice/>")
