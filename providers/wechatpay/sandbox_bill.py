"""The sandbox's trade bill: the file format of providers.md 2.7, built from the sandbox's memory."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from payments.domain.money import format_yuan
from providers.base import BEIJING
from providers.wechatpay import wire as w
from providers.wechatpay.sandbox_store import SandboxOrder, SandboxRefund

FEE_RATE = Decimal("0.006")  # 0.60%, a common rate for ordinary merchants
FEE_PLACES = Decimal("0.00001")
LAYOUTS = {
    "ALL": (w.BILL_COLUMNS_ALL, w.BILL_SUMMARY_ALL),
    "SUCCESS": (w.BILL_COLUMNS_SUCCESS, w.BILL_SUMMARY_SUCCESS),
    "REFUND": (w.BILL_COLUMNS_REFUND, w.BILL_SUMMARY_ALL),
}


def fee_text(fen: int) -> str:
    """The service fee on `fen`, in yuan with the bill's five decimals (negative for refunds)."""
    return f"{(Decimal(fen) * FEE_RATE / 100).quantize(FEE_PLACES):f}"


def _when(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _on(moment: datetime | None, day: date) -> bool:
    return moment is not None and moment.astimezone(BEIJING).date() == day


def _base(order: SandboxOrder, transaction_id: str, openid: str) -> dict[str, str]:
    return {
        w.BILL_APPID: order.appid,
        w.BILL_MCHID: order.mchid,
        w.BILL_SUB_MCHID: "0",
        w.BILL_DEVICE: "",
        w.BILL_TRANSACTION_ID: transaction_id,
        w.BILL_OUT_TRADE_NO: order.out_trade_no,
        w.BILL_OPENID: openid,
        w.BILL_TRADE_TYPE: order.trade_type,
        w.BILL_BANK: "OTHERS",
        w.BILL_CURRENCY: order.currency,
        w.BILL_COUPON: "0.00",
        w.BILL_COUPON_REFUND: "0.00",
        w.BILL_SUBJECT: order.description,
        w.BILL_ATTACH: "",
        w.BILL_RATE: f"{FEE_RATE * 100:.2f}%",
        w.BILL_RATE_NOTE: "",
    }


def _rows(
    bill_type: str, day: date, orders: Iterable[SandboxOrder], refunds: Iterable[SandboxRefund]
) -> list[tuple[datetime, dict[str, str]]]:
    by_no: dict[str, SandboxOrder] = {}
    rows: list[tuple[datetime, dict[str, str]]] = []
    for order in orders:
        by_no[order.out_trade_no] = order
        if bill_type == "REFUND":
            continue
        for payment in order.payments:
            if not _on(payment.success_time, day):
                continue
            row = _base(order, payment.transaction_id, payment.openid)
            row.update({
                w.BILL_TIME: _when(payment.success_time),
                w.BILL_TRADE_STATE: "SUCCESS",
                w.BILL_SETTLEMENT_TOTAL: format_yuan(payment.total),
                w.BILL_REFUND_ID: "0",
                w.BILL_OUT_REFUND_NO: "0",
                w.BILL_REFUND: "0.00",
                w.BILL_REFUND_TYPE: "",
                w.BILL_REFUND_STATUS: "",
                w.BILL_FEE: fee_text(payment.total),
                w.BILL_ORDER_TOTAL: format_yuan(payment.total),
                w.BILL_REFUND_REQUESTED: "0.00",
            })  # fmt: skip
            rows.append((payment.success_time, row))
    if bill_type != "SUCCESS":
        for refund in refunds:
            order = by_no.get(refund.out_trade_no)
            success = refund.success_time
            if order is None or refund.status != "SUCCESS" or success is None or not _on(success, day):
                continue
            openid = next((p.openid for p in order.payments if p.transaction_id == refund.transaction_id), "")
            row = _base(order, refund.transaction_id, openid)
            row.update({
                w.BILL_TIME: _when(success),
                w.BILL_TRADE_STATE: "REFUND",
                w.BILL_SETTLEMENT_TOTAL: "0.00",
                w.BILL_REFUND_APPLY_TIME: _when(refund.create_time),
                w.BILL_REFUND_SUCCESS_TIME: _when(success),
                w.BILL_REFUND_ID: refund.refund_id,
                w.BILL_OUT_REFUND_NO: refund.out_refund_no,
                w.BILL_REFUND: format_yuan(refund.refund),
                w.BILL_REFUND_TYPE: "ORIGINAL",
                w.BILL_REFUND_STATUS: "SUCCESS",
                # WeChat gives back the fee on the refunded part.
                w.BILL_FEE: fee_text(-refund.refund),
                w.BILL_ORDER_TOTAL: "0.00",
                w.BILL_REFUND_REQUESTED: format_yuan(refund.refund),
            })  # fmt: skip
            rows.append((success, row))
    rows.sort(key=lambda pair: pair[0])
    return rows


def _sum(rows: list[dict[str, str]], column: str) -> int:
    return sum(int(Decimal(row[column]) * 100) for row in rows)


def render_trade_bill(
    bill_type: str, day: date, orders: Iterable[SandboxOrder], refunds: Iterable[SandboxRefund]
) -> bytes | None:
    """The bill for `day` (Beijing time), or None when the day had no transactions (WeChat then
    answers NO_STATEMENT_EXIST instead of an empty file)."""
    columns, summary_columns = LAYOUTS[bill_type]
    rows = [row for _, row in _rows(bill_type, day, orders, refunds)]
    if not rows:
        return None
    fees = sum(Decimal(row[w.BILL_FEE]) for row in rows)
    totals = {
        "总交易单数": str(len(rows)),
        "应结订单总金额": format_yuan(_sum(rows, w.BILL_SETTLEMENT_TOTAL)),
        "退款总金额": format_yuan(_sum(rows, w.BILL_REFUND)),
        "充值券退款总金额": "0.00",
        "手续费总金额": f"{fees.quantize(FEE_PLACES):f}",
        "订单总金额": format_yuan(_sum(rows, w.BILL_ORDER_TOTAL)),
        "申请退款总金额": format_yuan(_sum(rows, w.BILL_REFUND_REQUESTED)),
    }
    lines = [",".join(columns)]
    lines += [",".join("`" + row[column] for column in columns) for row in rows]
    lines.append(",".join(summary_columns))
    lines.append(",".join("`" + totals[column] for column in summary_columns))
    # The UTF-8 BOM seen in real bills is kept, so parsers meet it here too.
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")
