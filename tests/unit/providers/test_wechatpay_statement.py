"""The trade bill parser (providers.md 2.7), on hand-built files that follow the spec and on the
sandbox's own bills in all three layouts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.domain.money import Money
from providers.base import BEIJING, StatementError
from providers.wechatpay import wire as w
from providers.wechatpay.sandbox_bill import render_trade_bill
from providers.wechatpay.sandbox_store import SandboxOrder, SandboxPayment, SandboxRefund
from providers.wechatpay.statement import parse_statement

ALL_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
    "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
# The real example row of providers.md 2.7, with its elided ids written out.
PAYMENT_ROW = (
    "`2024-01-16 22:43:59,`wx9dfe00000000abcd,`1627859777,`0,`,`4200002086202401169876543210,"
    "`1747268229775183872,`o2RWx0000000000000000000000,`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.02,`0.00,"
    "`0,`0,`0.00,`0.00,`,`,`测试支付4,`,`0.00000,`0.90%,`0.02,`0.00,`"
)
REFUND_ROW = (
    "`2024-01-16 23:10:02,`wx9dfe00000000abcd,`1627859777,`0,`,`4200002086202401169876543210,"
    "`1747268229775183872,`o2RWx0000000000000000000000,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,"
    "`50300802012024011600000000001,`RF1747268229775183,`0.01,`0.00,`ORIGINAL,`SUCCESS,`测试支付4,`,"
    "`-0.00009,`0.90%,`0.00,`0.01,`"
)
SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n`2,`0.02,`0.01,`0.00,`-0.00009,`0.02,`0.01\n"


def _bill(*rows: str, header: str = ALL_HEADER, summary: str = SUMMARY, bom: bool = True) -> bytes:
    text = ("\ufeff" if bom else "") + header + "\n" + "".join(row + "\n" for row in rows) + summary
    return text.encode("utf-8")


def _error(data: bytes) -> StatementError:
    with pytest.raises(StatementError) as info:
        parse_statement(data)
    return info.value


# -- the spec's file -----------------------------------------------------------------------------


def test_a_success_row_becomes_a_payment_line() -> None:
    [line, _] = parse_statement(_bill(PAYMENT_ROW, REFUND_ROW))
    assert line.kind == "payment" and line.provider == "wechatpay"
    assert (line.out_trade_no, line.provider_txn_id) == (
        "1747268229775183872",
        "4200002086202401169876543210",
    )
    assert (line.amount, line.fee, line.status) == (Money(2), Money(0), "SUCCESS")
    assert line.occurred_at == datetime(2024, 1, 16, 22, 43, 59, tzinfo=BEIJING)
    assert line.line_no == 2


def test_a_refund_row_becomes_a_negative_refund_line_with_our_refund_number() -> None:
    [_, line] = parse_statement(_bill(PAYMENT_ROW, REFUND_ROW))
    assert (line.kind, line.amount, line.refund_no) == ("refund", Money(-1), "RF1747268229775183")
    assert line.status == "SUCCESS"
    assert line.occurred_at == datetime(2024, 1, 16, 15, 10, 2, tzinfo=UTC)


def test_the_bom_is_optional() -> None:
    assert parse_statement(_bill(PAYMENT_ROW, bom=False))[0].amount == Money(2)


def test_fees_with_five_decimals_round_half_up_to_fen() -> None:
    row = PAYMENT_ROW.replace("`0.00000,", "`0.00500,")
    assert parse_statement(_bill(row))[0].fee == Money(1)


def test_rows_after_the_summary_header_are_not_lines() -> None:
    assert len(parse_statement(_bill(PAYMENT_ROW) + b"`9,`9.99\n")) == 1


def test_a_bill_without_transactions_but_with_its_summary_is_empty() -> None:
    assert parse_statement(_bill()) == []


def test_cells_are_mapped_by_header_name_not_position() -> None:
    header = ALL_HEADER.split(",")
    cells = PAYMENT_ROW[1:].split(",`")
    order = list(reversed(range(len(header))))
    shuffled_header = ",".join(header[i] for i in order)
    shuffled_row = "`" + ",`".join(cells[i] for i in order)
    [line] = parse_statement(_bill(shuffled_row, header=shuffled_header))
    assert (line.amount, line.out_trade_no) == (Money(2), "1747268229775183872")


def test_an_old_bill_without_settlement_and_coupon_columns_parses() -> None:
    header = ALL_HEADER.split(",")
    cells = PAYMENT_ROW[1:].split(",`")
    keep = [i for i, name in enumerate(header) if name not in ("应结订单金额", "代金券金额")]
    row = "`" + ",`".join(cells[i] for i in keep)
    [line] = parse_statement(_bill(row, header=",".join(header[i] for i in keep)))
    assert line.amount == Money(2)


def test_a_revoked_row_moves_no_money_and_is_skipped() -> None:
    row = PAYMENT_ROW.replace("`SUCCESS,", "`REVOKED,")
    assert parse_statement(_bill(row)) == []


# -- refused files -------------------------------------------------------------------------------


def test_a_file_that_is_not_utf8_is_refused() -> None:
    assert "UTF-8" in _error(_bill(PAYMENT_ROW, bom=False).decode("utf-8").encode("gbk")).detail


def test_an_empty_file_is_refused() -> None:
    assert _error(b"").line == 1


def test_a_header_that_is_not_a_trade_bill_is_refused() -> None:
    assert _error(b"a,b,c\n`1,`2,`3\n").line == 1


def test_a_row_with_the_wrong_number_of_cells_names_its_line() -> None:
    assert _error(_bill(PAYMENT_ROW, PAYMENT_ROW + ",`extra")).line == 3


def test_a_row_without_backticks_is_refused() -> None:
    assert _error(_bill(PAYMENT_ROW.replace("`", ""))).line == 2


def test_an_amount_with_three_decimals_is_refused() -> None:
    assert _error(_bill(PAYMENT_ROW.replace("`0.02,", "`0.025,"))).line == 2


def test_a_float_looking_fee_is_refused() -> None:
    assert _error(_bill(PAYMENT_ROW.replace("`0.00000,", "`1e-5,"))).line == 2


def test_a_bad_time_is_refused() -> None:
    assert _error(_bill(PAYMENT_ROW.replace("2024-01-16 22:43:59", "2024/01/16 22:43"))).line == 2


def test_a_refund_row_without_our_refund_number_is_refused() -> None:
    assert _error(_bill(REFUND_ROW.replace("`RF1747268229775183,", "`0,"))).line == 2


def test_a_file_cut_before_its_summary_is_refused() -> None:
    assert "truncated" in _error(_bill(PAYMENT_ROW, summary="")).detail


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_ever_raise_statement_error(data: bytes) -> None:
    try:
        parse_statement(data)
    except StatementError:
        pass


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.text(alphabet=",`\n-.0123456789交易状态SUCCESREFUND总", max_size=200))
def test_near_miss_bills_only_ever_raise_statement_error(tail: str) -> None:
    try:
        parse_statement((ALL_HEADER + "\n" + tail).encode())
    except StatementError:
        pass


# -- the sandbox's bills -------------------------------------------------------------------------

PAID = datetime(2024, 1, 16, 10, 0, 0, tzinfo=BEIJING)
REFUNDED = datetime(2024, 1, 16, 11, 30, 0, tzinfo=BEIJING)


def _sandbox_memory() -> tuple[list[SandboxOrder], list[SandboxRefund]]:
    order = SandboxOrder(
        out_trade_no="ORDER20240001", appid="wxd678efh567hg6787", mchid="1900000109",
        description="还款, with a comma", notify_url="http://127.0.0.1:8000/notify/wechatpay", total=12345,
        currency="CNY", trade_type="NATIVE", token="tok", created_at=PAID, time_expire=None,
        fingerprint=(), trade_state="REFUND",
        payments=[SandboxPayment("4200002086202401160000000001", 12345, PAID, "oSandbox1")],
    )  # fmt: skip
    refund = SandboxRefund(
        refund_id="50300202401160000000000000001", out_refund_no="REFUND2024001",
        out_trade_no="ORDER20240001", transaction_id="4200002086202401160000000001", refund=2345,
        total=12345, currency="CNY", reason="", notify_url="", create_time=PAID, status="SUCCESS",
        success_time=REFUNDED,
    )  # fmt: skip
    return [order], [refund]


@pytest.mark.parametrize(
    ("bill_type", "columns", "kinds"),
    [
        ("ALL", 27, ["payment", "refund"]),
        ("SUCCESS", 20, ["payment"]),
        ("REFUND", 29, ["refund"]),
    ],
)
def test_the_sandbox_bill_layouts_parse_back(bill_type: str, columns: int, kinds: list[str]) -> None:
    orders, refunds = _sandbox_memory()
    data = render_trade_bill(bill_type, PAID.date(), orders, refunds)
    assert data is not None and data.startswith("\ufeff".encode())
    assert len(data.decode().lstrip("\ufeff").splitlines()[0].split(",")) == columns
    lines = parse_statement(data)
    assert [line.kind for line in lines] == kinds
    for line in lines:
        assert line.amount == (Money(12345) if line.kind == "payment" else Money(-2345))
        assert line.occurred_at == (PAID if line.kind == "payment" else REFUNDED)


def test_the_sandbox_bill_uses_the_spec_column_names() -> None:
    orders, refunds = _sandbox_memory()
    data = render_trade_bill("ALL", PAID.date(), orders, refunds)
    assert data is not None
    assert data.decode().lstrip("\ufeff").splitlines()[0] == ALL_HEADER
    assert w.BILL_COLUMNS_ALL == tuple(ALL_HEADER.split(","))


def test_the_sandbox_has_no_bill_for_a_day_without_trades() -> None:
    orders, refunds = _sandbox_memory()
    assert render_trade_bill("ALL", datetime(2024, 1, 17).date(), orders, refunds) is None


def test_a_vertical_tab_inside_a_subject_does_not_split_the_row() -> None:
    row = PAYMENT_ROW.replace("`测试支付4", "`测试\x0b支付4")

    [line, refund] = parse_statement(_bill(row, REFUND_ROW))

    assert (line.kind, refund.kind) == ("payment", "refund")
