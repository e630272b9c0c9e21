"""CSV bank exports: layouts, encodings, cell quirks and errors. Every file is built here from clearly
fake data (测试甲, 6222000000000001234) and encoded in the test."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from reconciliation.bankfiles import CSV_PRESETS, BankFileError, CsvMapping, detect_format, parse_bank_file

CN = timezone(timedelta(hours=8))
DEBIT_CREDIT = CSV_PRESETS["debit_credit_columns"]
INCOME_EXPENSE = CSV_PRESETS["income_expense_columns"]
WITH_DIRECTION = CSV_PRESETS["amount_with_direction"]
SIGNED = CsvMapping(
    date="交易日期", amount="交易金额", payer_name="对方户名", payer_account="对方账号", memo=("摘要",)
)

HEADER = "交易日期,交易时间,借方发生额,贷方发生额,对方户名,对方账号,摘要,用途,交易流水号"
PREAMBLE = "账户名称:,测试公司\n账号:,6222000000000009999\n起止日期:,2026-03-01 至 2026-03-31\n"


def gbk(text: str) -> bytes:
    return text.encode("gbk")


def test_gbk_export_with_preamble_and_footer_reads_only_the_data_rows() -> None:
    data = gbk(
        PREAMBLE + HEADER + "\n"
        "2026-03-01,10:23:05,,500.00,测试甲,6222000000000001234,转账,还款,SN001\n"
        "2026-03-02,09:00:00,20.00,,测试银行,6222000000000000000,手续费,,SN002\n"
        "合计,,20.00,500.00,,,,,\n"
        "共 2 笔,,,,,,,,\n"
        "打印日期:2026-04-01\n"
    )
    statement = parse_bank_file(data, "csv", DEBIT_CREDIT)
    assert statement.format == "csv"
    assert [(line.line_no, line.amount_fen, line.bank_ref) for line in statement.lines] == [
        (5, 50000, "SN001"),
        (6, -2000, "SN002"),
    ]
    first = statement.lines[0]
    assert (first.payer_name, first.payer_account, first.memo, first.currency) == (
        "测试甲",
        "6222000000000001234",
        "转账 还款",
        "CNY",
    )


def test_preamble_account_number_becomes_the_statement_account() -> None:
    data = gbk(PREAMBLE + HEADER + "\n2026-03-01,,,1.00,测试甲,6222000000000001234,,,SN1\n")
    assert parse_bank_file(data, "csv", DEBIT_CREDIT).account == "6222000000000009999"


def test_account_stated_in_one_preamble_cell_is_found() -> None:
    data = gbk(
        "账号：6222 0000 0000 0009 999\n" + HEADER + "\n2026-03-01,,,1.00,测试甲,6222000000000001234,,,SN1\n"
    )
    assert parse_bank_file(data, "csv", DEBIT_CREDIT).account == "6222000000000009999"


def test_file_without_preamble_has_no_account() -> None:
    data = gbk(HEADER + "\n2026-03-01,,,1.00,测试甲,6222000000000001234,,,SN1\n")
    assert parse_bank_file(data, "csv", DEBIT_CREDIT).account == ""


def test_gb18030_export_is_read() -> None:
    data = (HEADER + "\n2026-03-01,,,1.00,测试甲𠀀,6222000000000001234,,,SN1\n").encode("gb18030")
    assert parse_bank_file(data, "csv", DEBIT_CREDIT).lines[0].payer_name == "测试甲𠀀"


def test_utf8_export_with_bom_is_read() -> None:
    data = ("\ufeff" + HEADER + "\n2026-03-01,,,88.00,测试甲,6222000000000001234,,,SN1\n").encode("utf-8")
    [line] = parse_bank_file(data, "csv", DEBIT_CREDIT).lines
    assert (line.amount_fen, line.payer_name) == (8800, "测试甲")


def test_utf8_export_without_bom_is_read() -> None:
    data = (HEADER + "\n2026-03-01,,,88.00,测试甲,6222000000000001234,,,SN1\n").encode("utf-8")
    assert parse_bank_file(data, "csv", DEBIT_CREDIT).lines[0].payer_name == "测试甲"


def test_tab_separated_export_is_read() -> None:
    data = gbk(
        HEADER.replace(",", "\t") + "\n" + "2026-03-01\t\t\t7.00\t测试甲\t6222000000000001234\t\t\tSN1\n"
    )
    assert parse_bank_file(data, "csv", DEBIT_CREDIT).lines[0].amount_fen == 700


def test_debit_and_credit_columns_give_the_sign() -> None:
    data = gbk(
        HEADER + "\n"
        "2026-03-01,,,300.00,测试甲,6222000000000001234,,,SN1\n"
        "2026-03-01,,45.60,,测试乙,6222000000000005678,,,SN2\n"
    )
    assert [line.amount_fen for line in parse_bank_file(data, "csv", DEBIT_CREDIT).lines] == [30000, -4560]


def test_income_and_expense_columns_give_the_sign() -> None:
    data = gbk(
        "交易时间,收入金额,支出金额,币种,对方户名,对方账号,摘要,附言,流水号\n"
        "2026-03-01 08:15:00,200.00,,人民币,测试甲,6222000000000001234,网银转账,还款 HT001,A1\n"
        "2026-03-01 09:15:00,,0.50,人民币,测试银行,,手续费,,A2\n"
    )
    lines = parse_bank_file(data, "csv", INCOME_EXPENSE).lines
    assert [(line.amount_fen, line.booked_at) for line in lines] == [
        (20000, datetime(2026, 3, 1, 8, 15, tzinfo=CN)),
        (-50, datetime(2026, 3, 1, 9, 15, tzinfo=CN)),
    ]
    assert lines[0].memo == "网银转账 还款 HT001"


def test_signed_amount_column_gives_the_sign() -> None:
    data = gbk(
        "交易日期,交易金额,对方户名,对方账号,摘要\n2026-03-01,+150.00,测试甲,,\n2026-03-01,-3.20,测试乙,,\n"
    )
    assert [line.amount_fen for line in parse_bank_file(data, "csv", SIGNED).lines] == [15000, -320]


def test_direction_column_gives_the_sign() -> None:
    data = gbk(
        "记账日期,交易金额,借贷标志,对方户名,对方账号,摘要,附言,流水号\n"
        "2026-03-01,99.00,贷,测试甲,6222000000000001234,,,B1\n"
        "2026-03-01,1.00,借,测试乙,6222000000000005678,,,B2\n"
    )
    assert [line.amount_fen for line in parse_bank_file(data, "csv", WITH_DIRECTION).lines] == [9900, -100]


def test_unknown_direction_mark_is_refused_with_its_line() -> None:
    data = gbk(
        "记账日期,交易金额,借贷标志,对方户名,对方账号,摘要,附言,流水号\n2026-03-01,99.00,X,测试甲,,,,B1\n"
    )
    with pytest.raises(BankFileError, match=r"line 2: column 借贷标志 holds neither"):
        parse_bank_file(data, "csv", WITH_DIRECTION)


def test_negative_amount_with_a_direction_column_is_refused() -> None:
    data = gbk(
        "记账日期,交易金额,借贷标志,对方户名,对方账号,摘要,附言,流水号\n2026-03-01,-99.00,贷,测试甲,,,,B1\n"
    )
    with pytest.raises(BankFileError, match="line 2"):
        parse_bank_file(data, "csv", WITH_DIRECTION)


def test_line_with_both_a_credit_and_a_debit_is_refused() -> None:
    data = gbk(HEADER + "\n2026-03-01,,5.00,6.00,测试甲,6222000000000001234,,,SN1\n")
    with pytest.raises(BankFileError, match="line 2: both 贷方发生额 and 借方发生额"):
        parse_bank_file(data, "csv", DEBIT_CREDIT)


def test_negative_value_in_a_credit_column_is_refused() -> None:
    data = gbk(HEADER + "\n2026-03-01,,,-6.00,测试甲,6222000000000001234,,,SN1\n")
    with pytest.raises(BankFileError, match="line 2: column 贷方发生额 holds a negative amount"):
        parse_bank_file(data, "csv", DEBIT_CREDIT)


@pytest.mark.parametrize(
    ("cell", "fen"),
    [('"1,234.50"', 123450), ('"12,345,678.9"', 1234567890), ("1234.5", 123450), ("0.01", 1), ("￥88", 8800)],
)
def test_amount_text_is_read_as_exact_fen(cell: str, fen: int) -> None:
    data = gbk(HEADER + f"\n2026-03-01,,,{cell},测试甲,6222000000000001234,,,SN1\n")
    assert parse_bank_file(data, "csv", DEBIT_CREDIT).lines[0].amount_fen == fen


@pytest.mark.parametrize("cell", ["abc", "1.234", '"1,23.00"', "1e5", "NaN", "12..5"])
def test_bad_amount_is_refused_with_its_line_number(cell: str) -> None:
    data = gbk(HEADER + f"\n2026-03-01,,,1.00,测试甲,,,,SN1\n2026-03-02,,,{cell},测试甲,,,,SN2\n")
    with pytest.raises(BankFileError, match="line 3, column 贷方发生额"):
        parse_bank_file(data, "csv", DEBIT_CREDIT)


def test_amount_above_the_limit_is_refused() -> None:
    data = gbk(HEADER + "\n2026-03-01,,,100000000000.01,测试甲,,,,SN1\n")
    with pytest.raises(BankFileError, match="line 2, column 贷方发生额: amount is above the limit"):
        parse_bank_file(data, "csv", DEBIT_CREDIT)


def test_error_messages_do_not_quote_the_file() -> None:
    data = gbk(HEADER + "\n2026-03-01,,,测试甲6222000000000001234,测试甲,6222000000000001234,,,SN1\n")
    with pytest.raises(BankFileError) as caught:
        parse_bank_file(data, "csv", DEBIT_CREDIT)
    assert "测试甲" not in str(caught.value)
    assert "6222" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_excel_text_wrappers_and_trailing_tabs_are_removed_from_cells() -> None:
    data = gbk(
        HEADER + '\n="2026-03-01",,,"=""1.00""",测试甲\t,="6222000000000001234",\t摘要\t,,="SN001"\t\n'
    )
    [line] = parse_bank_file(data, "csv", DEBIT_CREDIT).lines
    assert (line.booked_on, line.amount_fen, line.payer_account, line.memo, line.bank_ref) == (
        date(2026, 3, 1),
        100,
        "6222000000000001234",
        "摘要",
        "SN001",
    )


@pytest.mark.parametrize(
    ("cell", "booked_at"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=CN)),
        ("2026/03/01", datetime(2026, 3, 1, tzinfo=CN)),
        ("2026/3/1", datetime(2026, 3, 1, tzinfo=CN)),
        ("20260301", datetime(2026, 3, 1, tzinfo=CN)),
        ("2026.03.01", datetime(2026, 3, 1, tzinfo=CN)),
        ("2026年03月01日", datetime(2026, 3, 1, tzinfo=CN)),
        ("2026-03-01 14:23:05", datetime(2026, 3, 1, 14, 23, 5, tzinfo=CN)),
        ("2026/03/01 14:23", datetime(2026, 3, 1, 14, 23, tzinfo=CN)),
        ("20260301 142305", datetime(2026, 3, 1, 14, 23, 5, tzinfo=CN)),
        ("20260301142305", datetime(2026, 3, 1, 14, 23, 5, tzinfo=CN)),
    ],
)
def test_date_formats_are_read_on_the_china_clock(cell: str, booked_at: datetime) -> None:
    data = gbk(HEADER + f"\n{cell},,,1.00,测试甲,,,,SN1\n")
    [line] = parse_bank_file(data, "csv", DEBIT_CREDIT).lines
    assert (line.booked_on, line.booked_at) == (booked_at.date(), booked_at)
    assert line.booked_at.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    ("cell", "at"), [("14:23:05", time(14, 23, 5)), ("142305", time(14, 23, 5)), ("9:05", time(9, 5))]
)
def test_time_from_its_own_column_is_combined_with_the_date(cell: str, at: time) -> None:
    data = gbk(HEADER + f"\n2026-03-01,{cell},,1.00,测试甲,,,,SN1\n")
    assert parse_bank_file(data, "csv", DEBIT_CREDIT).lines[0].booked_at == datetime.combine(
        date(2026, 3, 1), at, CN
    )


def test_invalid_date_in_a_data_row_is_refused() -> None:
    data = gbk(HEADER + "\n2026-02-30,,,1.00,测试甲,,,,SN1\n")
    with pytest.raises(BankFileError, match="line 2: column 交易日期 holds no valid date"):
        parse_bank_file(data, "csv", DEBIT_CREDIT)


def test_unrecognised_row_below_the_header_is_refused_not_skipped() -> None:
    data = gbk(HEADER + "\n2026-03-01,,,1.00,测试甲,,,,SN1\n转账,,,2.00,测试乙,,,,SN2\n")
    with pytest.raises(BankFileError, match="line 3"):
        parse_bank_file(data, "csv", DEBIT_CREDIT)


def test_header_repeated_on_a_second_page_is_skipped() -> None:
    data = gbk(
        HEADER
        + "\n2026-03-01,,,1.00,测试甲,,,,SN1\n本页合计,,,1.00\n"
        + HEADER
        + "\n2026-03-02,,,2.00,测试乙,,,,SN2\n"
    )
    assert [line.amount_fen for line in parse_bank_file(data, "csv", DEBIT_CREDIT).lines] == [100, 200]


def test_missing_mapped_column_is_named_in_the_error() -> None:
    data = gbk(PREAMBLE + HEADER.replace(",对方账号", ",对方帐户") + "\n2026-03-01,,,1.00,测试甲,,,,SN1\n")
    with pytest.raises(BankFileError, match=r"missing: 对方账号$"):
        parse_bank_file(data, "csv", DEBIT_CREDIT)


def test_column_named_twice_in_the_header_is_refused() -> None:
    data = gbk(HEADER + ",对方户名\n2026-03-01,,,1.00,测试甲,,,,SN1,测试乙\n")
    with pytest.raises(BankFileError, match="line 1: column 对方户名 appears twice"):
        parse_bank_file(data, "csv", DEBIT_CREDIT)


def test_header_names_match_despite_full_width_brackets_and_spaces() -> None:
    mapping = CsvMapping(date="交易日期", credit="贷方发生额(元)", debit="借方发生额(元)")
    data = gbk("交易日期, 借方发生额（元）,贷方发生额（元） \n2026-03-01,,3.00\n")
    assert parse_bank_file(data, "csv", mapping).lines[0].amount_fen == 300


def test_zero_lines_are_skipped() -> None:
    data = gbk(HEADER + "\n2026-03-01,,0.00,0.00,测试甲,,,,SN1\n2026-03-01,,-,1.00,测试甲,,,,SN2\n")
    assert [line.bank_ref for line in parse_bank_file(data, "csv", DEBIT_CREDIT).lines] == ["SN2"]


def test_currency_column_is_read_and_foreign_currency_kept() -> None:
    data = gbk(
        "交易时间,收入金额,支出金额,币种,对方户名,对方账号,摘要,附言,流水号\n"
        "2026-03-01,1.00,,美元,测试甲,,,,A1\n2026-03-01,2.00,,RMB,测试甲,,,,A2\n2026-03-01,3.00,,,测试甲,,,,A3\n"
    )
    assert [line.currency for line in parse_bank_file(data, "csv", INCOME_EXPENSE).lines] == [
        "USD",
        "CNY",
        "CNY",
    ]


def test_unknown_currency_is_refused() -> None:
    data = gbk(
        "交易时间,收入金额,支出金额,币种,对方户名,对方账号,摘要,附言,流水号\n2026-03-01,1.00,,贝壳,测试甲,,,,A1\n"
    )
    with pytest.raises(BankFileError, match="line 2: column 币种"):
        parse_bank_file(data, "csv", INCOME_EXPENSE)


def test_without_a_reference_column_refs_are_digests_stable_across_imports() -> None:
    data = gbk(
        "交易日期,交易金额,对方户名,对方账号,摘要\n2026-03-01,10.00,测试甲,6222000000000001234,还款\n2026-03-02,20.00,测试乙,,\n"
    )
    first = [line.bank_ref for line in parse_bank_file(data, "csv", SIGNED).lines]
    again = [line.bank_ref for line in parse_bank_file(data, "csv", SIGNED).lines]
    assert first == again
    assert all(len(ref) == 32 and int(ref, 16) >= 0 for ref in first)
    assert first[0] != first[1]


def test_two_identical_lines_get_different_digest_refs() -> None:
    row = "2026-03-01,10.00,测试甲,6222000000000001234,还款\n"
    data = gbk("交易日期,交易金额,对方户名,对方账号,摘要\n" + row + row)
    refs = [line.bank_ref for line in parse_bank_file(data, "csv", SIGNED).lines]
    assert len(set(refs)) == 2


def test_digest_ref_does_not_depend_on_the_line_number() -> None:
    row = "2026-03-01,10.00,测试甲,6222000000000001234,还款\n"
    header = "交易日期,交易金额,对方户名,对方账号,摘要\n"
    plain = parse_bank_file(gbk(header + row), "csv", SIGNED).lines[0]
    shifted = parse_bank_file(gbk("测试公司\n\n" + header + row), "csv", SIGNED).lines[0]
    assert plain.line_no != shifted.line_no
    assert plain.bank_ref == shifted.bank_ref


def test_empty_reference_cell_falls_back_to_a_digest() -> None:
    data = gbk(HEADER + "\n2026-03-01,,,1.00,测试甲,,,,\n")
    assert len(parse_bank_file(data, "csv", DEBIT_CREDIT).lines[0].bank_ref) == 32


def test_repeated_bank_reference_is_refused() -> None:
    data = gbk(HEADER + "\n2026-03-01,,,1.00,测试甲,,,,SN1\n2026-03-01,,,2.00,测试乙,,,,SN1\n")
    with pytest.raises(BankFileError, match="line 3: repeats the bank reference of line 2"):
        parse_bank_file(data, "csv", DEBIT_CREDIT)


def test_multi_line_quoted_memo_keeps_the_starting_line_number() -> None:
    data = gbk(HEADER + '\n2026-03-01,,,1.00,测试甲,,"第一行\n第二行",,SN1\n2026-03-01,,,bad,测试甲,,,,SN2\n')
    with pytest.raises(BankFileError, match="line 4"):
        parse_bank_file(data, "csv", DEBIT_CREDIT)


def test_csv_without_a_mapping_is_refused() -> None:
    with pytest.raises(BankFileError, match="mapping"):
        parse_bank_file(gbk(HEADER + "\n"), "csv")


def test_bytes_that_are_no_text_encoding_are_refused() -> None:
    mapping = CsvMapping(date="日期", amount="金额", encoding="utf-8")
    with pytest.raises(BankFileError, match="not text"):
        parse_bank_file(b"\xff\xfe\xfd,\x80", "csv", mapping)


def test_detect_format_recognises_csv() -> None:
    assert detect_format(gbk(PREAMBLE + HEADER + "\n")) == "csv"


def test_detect_format_refuses_an_excel_workbook() -> None:
    with pytest.raises(BankFileError, match="Excel"):
        detect_format(b"PK\x03\x04rest-of-zip")


def test_mapping_loads_from_a_plain_dict() -> None:
    mapping = CsvMapping.from_dict(
        {
            "date": "日期",
            "amount": "金额",
            "direction": "收支",
            "credit_marks": ["收"],
            "debit_marks": "支",
            "memo": "附言",
            "encoding": "gbk",
        }
    )
    assert mapping.credit_marks == ("收",) and mapping.debit_marks == ("支",) and mapping.memo == ("附言",)
    data = gbk("日期,金额,收支,附言\n2026-03-01,5.00,收,还款\n")
    assert parse_bank_file(data, "csv", mapping).lines[0].amount_fen == 500


def test_mapping_from_a_preset_overrides_keys_and_empty_strings_remove_columns() -> None:
    mapping = CsvMapping.from_dict({"preset": "debit_credit_columns", "bank_ref": "", "memo": ["附言"]})
    assert (mapping.credit, mapping.bank_ref, mapping.memo) == ("贷方发生额", None, ("附言",))


def test_row_with_more_cells_than_the_header_is_refused() -> None:
    data = gbk(HEADER + "\n2026-03-01,,,1.00,测试甲,6222000000000001234,还款,合同,SN1,多出\n")
    with pytest.raises(BankFileError, match="line 2: more cells than the header"):
        parse_bank_file(data, "csv", DEBIT_CREDIT)


def test_trailing_empty_cells_are_accepted() -> None:
    data = gbk(HEADER + ",\n2026-03-01,,,1.00,测试甲,6222000000000001234,还款,合同,SN1,,,\n")
    assert parse_bank_file(data, "csv", DEBIT_CREDIT).lines[0].amount_fen == 100


@pytest.mark.parametrize(
    "config",
    [
        {"date": "日期"},
        {"amount": "金额"},
        {"date": "日期", "amount": "金额", "colour": "red"},
        {"date": "日期", "credit": "贷"},
        {"date": "日期", "amount": "金额", "direction": "借贷"},
        {"date": "日期", "amount": "金额", "memo": 3},
        {"date": "日期", "amount": "日期"},
        {"date": "日期", "amount": "金额", "encoding": "no-such-codec"},
        {"date": "日期", "amount": "金额", "encoding": "rot13"},
        {"date": "", "amount": "金额"},
        {"date": "日期", "amount": "金额", "default_currency": "元宝"},
        {"preset": "no-such-preset"},
    ],
)
def test_invalid_mapping_config_is_refused(config: dict[str, object]) -> None:
    with pytest.raises(BankFileError, match="csv mapping"):
        CsvMapping.from_dict(config)


def test_default_currency_is_normalised_to_its_iso_code() -> None:
    mapping = CsvMapping.from_dict({"date": "日期", "amount": "金额", "default_currency": "rmb"})
    assert parse_bank_file(gbk("日期,金额\n2026-03-01,1.00\n"), "csv", mapping).lines[0].currency == "CNY"


def test_presets_are_all_loadable_and_distinct() -> None:
    assert len({(m.credit, m.amount, m.direction) for m in CSV_PRESETS.values()}) == len(CSV_PRESETS) >= 3
