"""MT940 statements: small files written here, with fake parties."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciliation.bankfiles import BankFileError, detect_format, parse_bank_file

CN = timezone(timedelta(hours=8))


def mt940(*lines: str, account: str = "6222000000000009999") -> bytes:
    head = [":20:STMT20260301", f":25:{account}", ":28C:1/1", ":60F:C260228CNY10000,00"]
    return "\r\n".join([*head, *lines, ":62F:C260301CNY11214,50", "-"]).encode()


CREDIT = (":61:2603010301C1234,50NTRFNONREF//BR0001", ":86:网银转账 还款")
DEBIT = (":61:2603010301D20,00NCHGNONREF//BR0002", ":86:手续费")


def test_credit_and_debit_lines_become_signed_lines() -> None:
    statement = parse_bank_file(mt940(*CREDIT, *DEBIT), "mt940")
    assert statement.format == "mt940"
    assert [(line.line_no, line.amount_fen, line.currency, line.bank_ref) for line in statement.lines] == [
        (1, 123450, "CNY", "BR0001"),
        (2, -2000, "CNY", "BR0002"),
    ]


def test_account_identification_is_the_statement_account() -> None:
    assert parse_bank_file(mt940(*CREDIT), "mt940").account == "6222000000000009999"


def test_free_text_details_are_the_memo_and_leave_the_payer_blank() -> None:
    line = parse_bank_file(mt940(*CREDIT), "mt940").lines[0]
    assert (line.memo, line.payer_name, line.payer_account) == ("网银转账 还款", "", "")


def test_entry_date_is_the_booking_date_on_the_china_clock() -> None:
    line = parse_bank_file(mt940(":61:2603010302C1,00NTRFNONREF//BR1"), "mt940").lines[0]
    assert (line.booked_on, line.booked_at) == (date(2026, 3, 2), datetime(2026, 3, 2, tzinfo=CN))


def test_value_date_is_used_when_there_is_no_entry_date() -> None:
    line = parse_bank_file(mt940(":61:260301C1,00NTRFNONREF//BR1"), "mt940").lines[0]
    assert line.booked_on == date(2026, 3, 1)


def test_reversals_follow_swift_marks() -> None:
    lines = parse_bank_file(
        mt940(":61:2603010301RC5,00NTRFNONREF//BR1", ":61:2603010301RD7,00NTRFNONREF//BR2"), "mt940"
    ).lines
    assert [line.amount_fen for line in lines] == [-500, 700]


def test_slash_structured_details_give_payer_name_account_and_memo() -> None:
    line = parse_bank_file(
        mt940(
            ":61:2603010301C88,00NTRFNONREF//BR1",
            ":86:/NAME/测试甲/ACCT/6222000000000001234/REMI/USTD//还款 HT-0001/",
        ),
        "mt940",
    ).lines[0]
    assert (line.payer_name, line.payer_account, line.memo) == (
        "测试甲",
        "6222000000000001234",
        "还款 HT-0001",
    )


def test_question_mark_structured_details_give_payer_name_account_and_memo() -> None:
    line = parse_bank_file(
        mt940(
            ":61:2603010301C88,00NTRFNONREF//BR1",
            ":86:166?00TRANSFER?20HT-0001 REPAYMENT?30TESTBANK?316222000000000001234?32TEST JIA",
        ),
        "mt940",
    ).lines[0]
    assert (line.payer_name, line.payer_account, line.memo) == (
        "TEST JIA",
        "6222000000000001234",
        "HT-0001 REPAYMENT",
    )


def test_customer_reference_is_used_when_the_bank_reference_is_absent() -> None:
    line = parse_bank_file(mt940(":61:2603010301C1,00NTRFCUST-77"), "mt940").lines[0]
    assert line.bank_ref == "CUST-77"


def test_lines_without_references_get_stable_distinct_digests() -> None:
    data = mt940(":61:2603010301C1,00NTRFNONREF", ":86:还款", ":61:2603010301C1,00NTRFNONREF", ":86:还款")
    refs = [line.bank_ref for line in parse_bank_file(data, "mt940").lines]
    assert refs == [line.bank_ref for line in parse_bank_file(data, "mt940").lines]
    assert len(set(refs)) == 2 and all(len(ref) == 32 for ref in refs)


def test_gbk_encoded_details_are_decoded() -> None:
    data = "\r\n".join(
        [":20:S1", ":25:6222000000000009999", ":60F:C260228CNY0,00", *CREDIT, ":62F:C260301CNY1234,50"]
    )
    assert parse_bank_file(data.encode("gbk"), "mt940").lines[0].memo == "网银转账 还款"


def test_malformed_statement_line_is_refused_naming_the_field_only() -> None:
    with pytest.raises(BankFileError, match=r"field :61: does not have the MT940 layout") as caught:
        parse_bank_file(mt940(":61:测试甲6222000000000001234"), "mt940")
    assert "6222" not in str(caught.value) and "测试甲" not in str(caught.value)


def test_mt940_parse_errors_leave_no_trace_in_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(BankFileError):
        parse_bank_file(mt940(":61:测试甲6222000000000001234"), "mt940")
    assert "6222" not in caplog.text


def test_statements_of_two_accounts_in_one_file_are_refused() -> None:
    data = mt940(*CREDIT) + b"\r\n" + mt940(*DEBIT, account="6222000000000008888")
    with pytest.raises(BankFileError, match="more than one account"):
        parse_bank_file(data, "mt940")


def test_two_statements_of_one_account_are_numbered_across_the_file() -> None:
    data = mt940(*CREDIT) + b"\r\n" + mt940(*DEBIT)
    assert [line.line_no for line in parse_bank_file(data, "mt940").lines] == [1, 2]


def test_text_without_a_statement_header_is_refused() -> None:
    with pytest.raises(BankFileError, match=":20:"):
        parse_bank_file(b"no statement here", "mt940")


def test_file_content_naming_a_server_path_is_not_read_as_that_file(tmp_path: Path) -> None:
    statement_file = tmp_path / "statement.sta"
    statement_file.write_bytes(mt940(*CREDIT))
    with pytest.raises(BankFileError, match=":20:"):
        parse_bank_file(str(statement_file).encode(), "mt940")


def test_detect_format_recognises_mt940() -> None:
    assert detect_format(mt940(*CREDIT)) == "mt940"


def test_detect_format_recognises_mt940_in_a_swift_envelope() -> None:
    data = b"{1:F01TESTCNBJAXXX0000000000}{2:I940TESTCNBJXXXXN}{4:\r\n" + mt940(*CREDIT) + b"\r\n-}"
    assert detect_format(data) == "mt940"
    assert parse_bank_file(data).lines[0].amount_fen == 123450
