"""Alipay daily business bill: the parser on a hand-built file per providers.md 1.7, and on the sandbox's."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.domain.money import Money
from providers.alipay import statement
from providers.base import BEIJING, RefundRequest, StatementError
from tests.unit.providers.test_alipay_kit import make_kit, shared

HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
    "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
    "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)
PAYMENT_ROW = (
    "2024050122001400001234567890\t,ORDER00001\t,交易\t,还款,2024-05-01 09:59:00,2024-05-01 10:00:01,"
    "shop01\t,门店\t,op\t,\t,138****0000\t,123.45,123.45,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,-0.74,0.00,还款"
)
REFUND_ROW = (
    "2024050122001400001234567890\t,ORDER00001\t,退款\t,还款,2024-05-01 09:59:00,2024-05-01 11:30:00,"
    "shop01\t,门店\t,op\t,\t,138****0000\t,-23.45,-23.45,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,RF00000001\t,0.14,"
    "0.00,还款"
)
PREAMBLE = [
    "#支付宝业务明细查询",
    "#账号：[20880000000000010156]",
    "#起始日期：[2024年05月01日 00:00:00]   终止日期：[2024年05月02日 00:00:00]",
    "#-----------------------------------------业务明细列表----------------------------------------",
]
TRAILER = [
    "#-----------------------------------------业务明细列表结束------------------------------------",
    "#交易合计：1笔，商家实收共123.45元，商家优惠共0.00元",
    "#退款合计：1笔，商家实收退款共-23.45元，商家优惠退款共0.00元",
    "#导出时间：[2024年05月02日 05:46:49]",
]
DETAIL_NAME = "20880000000000010156_20240501_业务明细.csv"
SUMMARY_NAME = "20880000000000010156_20240501_业务明细(汇总).csv"


class _GbkEntry(zipfile.ZipInfo):
    """An entry whose name is stored as GBK bytes with no UTF-8 flag, as Alipay's zips have them."""

    __slots__ = ()

    def _encodeFilenameFlags(self):
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def bill(
    lines: list[str], *, name: str = DETAIL_NAME, summary_first: bool = True, gbk_names: bool = True
) -> bytes:
    buffer = io.BytesIO()
    entries = [(name, "\r\n".join(lines) + "\r\n")]
    summary = (
        SUMMARY_NAME,
        "#支付宝业务汇总查询\r\n#-----业务汇总列表-----\r\n门店编号,交易订单总笔数\r\n合计,9\r\n",
    )
    entries.insert(0 if summary_first else 1, summary)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry_name, text in entries:
            info = _GbkEntry(entry_name) if gbk_names else zipfile.ZipInfo(entry_name)
            archive.writestr(info, text.encode("gbk", errors="replace"))
    return buffer.getvalue()


FIXTURE = [*PREAMBLE, HEADER, PAYMENT_ROW, REFUND_ROW, *TRAILER]


def test_fixture_zip_really_has_gbk_names_without_the_utf8_flag():
    with zipfile.ZipFile(io.BytesIO(bill(FIXTURE))) as archive:
        infos = archive.infolist()
    assert all(not info.flag_bits & 0x800 for info in infos)
    assert [statement.entry_name(info) for info in infos] == [SUMMARY_NAME, DETAIL_NAME]


def test_payment_row_becomes_a_payment_line():
    payment, _ = statement.parse(bill(FIXTURE))
    assert payment.provider == "alipay" and payment.kind == "payment"
    assert payment.provider_txn_id == "2024050122001400001234567890"
    assert payment.out_trade_no == "ORDER00001"
    assert payment.amount == Money(12345)
    assert payment.fee == Money(74)
    assert payment.occurred_at == datetime(2024, 5, 1, 10, 0, 1, tzinfo=BEIJING)
    assert payment.refund_no == ""
    assert payment.line_no == 6


def test_refund_row_becomes_a_negative_refund_line():
    _, refund = statement.parse(bill(FIXTURE))
    assert refund.kind == "refund"
    assert refund.amount == Money(-2345)
    assert refund.refund_no == "RF00000001"
    assert refund.fee == Money(-14)
    assert refund.occurred_at == datetime(2024, 5, 1, 11, 30, tzinfo=BEIJING)
    assert refund.line_no == 7


def test_summary_file_is_ignored_whatever_its_position():
    assert statement.parse(bill(FIXTURE, summary_first=False)) == statement.parse(bill(FIXTURE))


def test_utf8_flagged_names_are_read_too():
    assert len(statement.parse(bill(FIXTURE, gbk_names=False))) == 2


@pytest.mark.parametrize("fee", ["-0.74", "0.74"])
def test_fee_direction_comes_from_the_row_type_not_its_sign(fee):
    row = PAYMENT_ROW.replace(",-0.74,", f",{fee},")
    (line,) = statement.parse(bill([*PREAMBLE, HEADER, row, *TRAILER]))
    assert line.fee == Money(74)


def test_rows_are_split_with_trailing_tabs_stripped_from_every_cell():
    (line,) = statement.parse(bill([*PREAMBLE, HEADER, PAYMENT_ROW, *TRAILER]))
    assert "\t" not in line.provider_txn_id + line.out_trade_no


def test_columns_are_found_by_header_name_not_position():
    header = HEADER.split(",")
    rows = [PAYMENT_ROW.split(","), REFUND_ROW.split(",")]
    order = list(reversed(range(len(header))))
    swapped = [",".join(header[i] for i in order), *(",".join(r[i] for i in order) for r in rows)]
    assert statement.parse(bill([*PREAMBLE, *swapped, *TRAILER])) == statement.parse(bill(FIXTURE))


def test_an_empty_day_has_no_lines():
    assert statement.parse(bill([*PREAMBLE, HEADER, *TRAILER])) == []


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"not a zip", "zip"),
        (bill(FIXTURE, name="20880000000000010156_20240501_其他.csv"), "业务明细"),
        (bill([HEADER, PAYMENT_ROW, *TRAILER]), "marker"),
        (bill([*PREAMBLE, HEADER, PAYMENT_ROW]), "truncated"),
        (bill([*PREAMBLE]), "header"),
        (bill([*PREAMBLE, HEADER.replace("服务费（元）", "手续费"), PAYMENT_ROW, *TRAILER]), "服务费"),
    ],
)
def test_unusable_files_raise_statement_error(data, detail):
    with pytest.raises(StatementError) as caught:
        statement.parse(data)
    assert detail in str(caught.value)


@pytest.mark.parametrize(
    "row",
    [
        PAYMENT_ROW + ",extra",
        PAYMENT_ROW.replace("123.45,123.45", "1.2.3,123.45"),
        PAYMENT_ROW.replace("123.45,123.45", "123.456,123.45"),
        PAYMENT_ROW.replace("123.45,123.45", "-123.45,123.45"),
        PAYMENT_ROW.replace("2024-05-01 10:00:01", "2024/05/01"),
        PAYMENT_ROW.replace("交易\t", "冻结\t"),
        PAYMENT_ROW.replace("2024050122001400001234567890\t", "\t"),
        REFUND_ROW.replace("RF00000001\t", "\t"),
    ],
)
def test_bad_rows_raise_statement_error_with_the_line_number(row):
    with pytest.raises(StatementError) as caught:
        statement.parse(bill([*PREAMBLE, HEADER, row, *TRAILER]))
    assert caught.value.line == 6


def test_detail_that_is_not_gbk_raises_statement_error():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_GbkEntry(DETAIL_NAME), b"\x81\x20\xff\xff")
    with pytest.raises(StatementError):
        statement.parse(buffer.getvalue())


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.builds(lambda b: bill([*PREAMBLE, HEADER, b]), st.text(max_size=80)))
def test_any_input_raises_only_statement_error(data):
    try:
        statement.parse(data)
    except StatementError:
        pass


def test_provider_parse_statement_is_this_parser():
    assert shared()[1].parse_statement(bill(FIXTURE)) == statement.parse(bill(FIXTURE))


# ---- the sandbox's bill -------------------------------------------------------------------------------


@pytest.fixture
async def kit():
    kit = make_kit()
    yield kit
    await kit.aclose()


def _today() -> date:
    return datetime.now(BEIJING).date()


async def _order(kit, no: str, fen: int = 10000) -> None:
    await kit.provider.create_order(kit.order(no, fen=fen))


async def test_sandbox_bill_is_a_zip_of_gbk_detail_and_summary(kit):
    with zipfile.ZipFile(io.BytesIO(kit.sandbox.statement(_today()))) as archive:
        infos = archive.infolist()
        names = [statement.entry_name(info) for info in infos]
        detail = archive.read(infos[0]).decode("gbk")
    stamp = _today().strftime("%Y%m%d")
    assert names == [
        f"20880000000000010156_{stamp}_业务明细.csv",
        f"20880000000000010156_{stamp}_业务明细(汇总).csv",
    ]
    assert all(not info.flag_bits & 0x800 for info in infos)
    lines = detail.splitlines()
    assert lines[1] == "#账号：[20880000000000010156]"
    assert lines[4] == HEADER
    assert "业务明细列表结束" in lines[5]


async def test_sandbox_bill_lists_every_paid_trade_notified_or_not(kit):
    for no in ("ORDER00001", "ORDER00002", "ORDER00003", "ORDER00004", "ORDER00005"):
        await _order(kit, no)
    pay = await kit.sandbox.pay("ORDER00001")
    silent = await kit.sandbox.pay("ORDER00002", "no_notify")
    twice = await kit.sandbox.pay("ORDER00003", "twice")
    other = await kit.sandbox.pay("ORDER00004", "other_amount", Money(5000))
    await kit.sandbox.pay("ORDER00005", "fail")
    lines = kit.provider.parse_statement(await kit.provider.fetch_statement(_today()))
    assert sorted((line.out_trade_no, line.provider_txn_id, line.amount.fen) for line in lines) == sorted(
        [
            ("ORDER00001", pay[0], 10000),
            ("ORDER00002", silent[0], 10000),
            ("ORDER00003", twice[0], 10000),
            ("ORDER00003", twice[1], 10000),
            ("ORDER00004", other[0], 5000),
        ]
    )
    assert {line.kind for line in lines} == {"payment"}
    # The sandbox charges Alipay's standard 0.6% service fee.
    assert {(line.amount.fen, line.fee.fen) for line in lines} == {(10000, 60), (5000, 30)}


async def test_sandbox_bill_lists_refunds_as_negative_lines(kit):
    await _order(kit, "ORDER00001")
    (trade_no,) = await kit.sandbox.pay("ORDER00001")
    await kit.provider.refund(RefundRequest("ORDER00001", "RF00000001", Money(2500), Money(10000)))
    await kit.provider.refund(RefundRequest("ORDER00001", "RF00000001", Money(2500), Money(10000)))
    lines = kit.provider.parse_statement(await kit.provider.fetch_statement(_today()))
    refunds = [line for line in lines if line.kind == "refund"]
    assert [(r.refund_no, r.amount, r.provider_txn_id) for r in refunds] == [
        ("RF00000001", Money(-2500), trade_no)
    ]


async def test_sandbox_bill_holds_only_the_requested_beijing_day(kit):
    await _order(kit, "ORDER00001")
    await kit.sandbox.pay("ORDER00001")
    tomorrow = datetime.now(BEIJING) + timedelta(days=1)
    kit.sandbox.clock = lambda: tomorrow
    await kit.provider.create_order(kit.order("ORDER00002", minutes=3 * 24 * 60))
    await kit.sandbox.pay("ORDER00002")
    today_lines = kit.provider.parse_statement(kit.sandbox.statement(_today()))
    tomorrow_lines = kit.provider.parse_statement(kit.sandbox.statement(tomorrow.date()))
    assert [line.out_trade_no for line in today_lines] == ["ORDER00001"]
    assert [line.out_trade_no for line in tomorrow_lines] == ["ORDER00002"]


async def test_sandbox_bill_survives_commas_in_the_subject(kit):
    await kit.provider.create_order(kit.order(subject='还款, 第1期 "A"'))
    await kit.sandbox.pay("ORDER00001")
    (line,) = kit.provider.parse_statement(kit.sandbox.statement(_today()))
    assert line.amount == Money(12345)


def test_a_vertical_tab_inside_a_subject_does_not_split_the_row():
    row = PAYMENT_ROW.replace("交易\t,还款,", "交易\t,还\x0b款,", 1)

    payment, refund = statement.parse(bill([*PREAMBLE, HEADER, row, REFUND_ROW, *TRAILER]))

    assert (payment.kind, refund.kind) == ("payment", "refund")
