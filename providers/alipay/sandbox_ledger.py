"""The sandbox's books and the gateway's business methods over them: orders, trades, refunds, bills.

Each method takes the verified `biz_content` and request parameters and returns the response object's
fields, or raises `Refused` with the gateway's code. Signatures and HTTP are sandbox.py's job.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from payments.domain.money import Money, format_yuan
from providers.alipay import transform, wire
from providers.alipay.sandbox_state import (
    SandboxOrder,
    SandboxRefund,
    SandboxTrade,
    beijing,
    beijing_ms,
    new_buyer,
    new_trade_no,
    trade_fields,
)
from providers.base import BEIJING

BILL_URL_LIFETIME = timedelta(seconds=30)
OUTCOMES: tuple[str, ...] = ("pay", "fail", "other_amount", "twice", "no_notify")

Notify = Callable[[SandboxOrder, dict[str, str]], None]


class SandboxError(ValueError):
    """A test or tester asked the sandbox for something the real cashier would not allow."""


class Refused(Exception):
    """A gateway error answer: Alipay's code, sub_code and message."""

    def __init__(self, code: str, sub_code: str, sub_msg: str) -> None:
        super().__init__(f"{code} {sub_code}: {sub_msg}")
        self.code, self.sub_code, self.sub_msg = code, sub_code, sub_msg


class Ledger:
    def __init__(
        self, *, base_url: str, app_id: str, seller_id: str, clock: Callable[[], datetime], notify: Notify
    ) -> None:
        self.base_url = base_url
        self.app_id = app_id
        self.seller_id = seller_id
        self.orders: dict[str, SandboxOrder] = {}
        self.codes: dict[str, str] = {}  # cashier code -> out_trade_no
        self.bills: dict[str, tuple[date, datetime]] = {}  # download token -> (day, valid until)
        self._clock = clock
        self._send = notify

    # ---- orders -------------------------------------------------------------------------------

    def order_for(self, biz: dict[str, Any]) -> SandboxOrder:
        order = self.orders.get(biz.get("out_trade_no", ""))
        if order is None:
            raise Refused("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
        return order

    def register(self, method: str, biz: dict[str, Any], params: dict[str, str]) -> SandboxOrder:
        out_trade_no = biz.get("out_trade_no", "")
        subject = biz.get("subject", "")
        if not (
            0 < len(out_trade_no) <= 64 and out_trade_no.replace("_", "").isalnum() and out_trade_no.isascii()
        ):
            raise Refused("40004", "ACQ.INVALID_PARAMETER", "out_trade_no格式错误")
        if not subject:
            raise Refused("40004", "ACQ.INVALID_PARAMETER", "subject不能为空")
        if method == wire.WAP_PAY and biz.get("product_code") != wire.WAP_PRODUCT_CODE:
            raise Refused("40004", "ACQ.PRODUCT_CODE_ERROR", "product_code应为QUICK_WAP_WAY")
        try:
            total = transform.parse_amount(biz.get("total_amount"), "total_amount").fen
            expire_text = biz.get("time_expire")
            time_expire = transform.parse_beijing(expire_text) if expire_text else None
        except ValueError:
            raise Refused("40004", "ACQ.INVALID_PARAMETER", "total_amount或time_expire格式错误") from None
        now = self._clock()
        if total > transform.MAX_ORDER_FEN or (time_expire is not None and time_expire <= now):
            raise Refused("40004", "ACQ.INVALID_PARAMETER", "金额超限或订单已过期")
        existing = self.orders.get(out_trade_no)
        if existing is not None:
            if (existing.total_fen, existing.subject) != (total, subject):
                raise Refused("40004", "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            status = existing.status(now)
            if status in (wire.TRADE_SUCCESS, wire.TRADE_FINISHED):
                raise Refused("40004", "ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if status == wire.TRADE_CLOSED:
                raise Refused("40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            return existing
        code = secrets.token_urlsafe(12)
        order = SandboxOrder(
            out_trade_no=out_trade_no,
            subject=subject,
            total_fen=total,
            method=method,
            notify_url=params.get("notify_url", ""),
            return_url=params.get("return_url", ""),
            time_expire=time_expire,
            code=code,
            created=now,
        )
        self.orders[out_trade_no] = order
        self.codes[code] = out_trade_no
        return order

    def precreate(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        order = self.register(wire.PRECREATE, biz, params)
        return {"out_trade_no": order.out_trade_no, "qr_code": f"{self.base_url}/qr/{order.code}"}

    def query(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        order = self.order_for(biz)
        trade = order.primary
        payload: dict[str, Any] = {
            "out_trade_no": order.out_trade_no,
            "trade_status": order.status(self._clock()),
            "total_amount": format_yuan(trade.amount_fen if trade else order.total_fen),
        }
        if trade is not None:
            payload.update(
                trade_no=trade.trade_no, buyer_logon_id=trade.buyer_logon_id, buyer_user_id=trade.buyer_id
            )
            if trade.paid_at is not None:
                paid = format_yuan(trade.amount_fen)
                payload.update(
                    send_pay_date=beijing(trade.paid_at),
                    receipt_amount=paid,
                    buyer_pay_amount=paid,
                    invoice_amount=paid,
                    point_amount="0.00",
                )
        return payload

    def close(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        order = self.order_for(biz)
        status = order.status(self._clock())
        if status in (wire.TRADE_SUCCESS, wire.TRADE_FINISHED):
            raise Refused("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if order.closed_at is None:
            order.closed_at = self._clock()
        payload: dict[str, Any] = {"out_trade_no": order.out_trade_no}
        if order.primary is not None:
            payload["trade_no"] = order.primary.trade_no
        return payload

    # ---- refunds ------------------------------------------------------------------------------

    def refund(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        order = self.order_for(biz)
        trade = order.primary
        if trade is None or trade.paid_at is None:
            raise Refused("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        try:
            amount = transform.parse_amount(biz.get("refund_amount"), "refund_amount").fen
        except ValueError:
            raise Refused("40004", "ACQ.INVALID_PARAMETER", "refund_amount格式错误") from None
        request_no = biz.get("out_request_no") or order.out_trade_no
        payload = {
            "trade_no": trade.trade_no,
            "out_trade_no": order.out_trade_no,
            "buyer_logon_id": trade.buyer_logon_id,
        }
        previous = order.refunds.get(request_no)
        if previous is not None:
            if previous.amount_fen != amount:
                raise Refused("40004", "ACQ.CONTEXT_INCONSISTENT", "同一退款请求号的退款金额不一致")
            # A repeated request number is answered, never executed twice.
            return {
                **payload,
                "fund_change": "N",
                "refund_fee": format_yuan(trade.refunded_fen),
                "gmt_refund_pay": beijing(previous.at),
            }
        if trade.refunded_fen + amount > trade.amount_fen:
            raise Refused("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        now = self._clock()
        refund = SandboxRefund(request_no, trade.trade_no, amount, biz.get("refund_reason", ""), now)
        order.refunds[request_no] = refund
        trade.refunded_fen += amount
        if trade.refunded_fen == trade.amount_fen:
            trade.status, trade.closed_at = wire.TRADE_CLOSED, now
        if order.notifies(trade.status, refund=True):
            fields = trade_fields(order, trade, app_id=self.app_id, seller_id=self.seller_id, now=now)
            fields.update(
                out_biz_no=request_no, refund_fee=format_yuan(trade.refunded_fen), gmt_refund=beijing_ms(now)
            )
            self._notify(order, fields)
        return {
            **payload,
            "fund_change": "Y",
            "refund_fee": format_yuan(trade.refunded_fen),
            "gmt_refund_pay": beijing(now),
        }

    def refund_query(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        order = self.order_for(biz)
        refund = order.refunds.get(biz.get("out_request_no") or order.out_trade_no)
        payload: dict[str, Any] = {"out_trade_no": order.out_trade_no}
        if order.primary is not None:
            payload["trade_no"] = order.primary.trade_no
        if refund is None:
            # Alipay's answer for an unknown request number: success, with no refund in it.
            return payload
        return {
            **payload,
            "out_request_no": refund.out_request_no,
            "refund_amount": format_yuan(refund.amount_fen),
            "total_amount": format_yuan(order.primary.amount_fen if order.primary else order.total_fen),
            "refund_status": wire.REFUND_SUCCESS,
            "gmt_refund_pay": beijing(refund.at),
        }

    # ---- bills --------------------------------------------------------------------------------

    def bill_url(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        if biz.get("bill_type") != "trade":
            raise Refused("40004", "isp.bill_type_not_support", "沙箱只提供trade业务账单")
        try:
            day = date.fromisoformat(biz.get("bill_date", ""))
        except ValueError:
            raise Refused("40004", "isv.invalid-bill-date", "账单日期格式错误") from None
        now = self._clock()
        # The real bill is T+1; the sandbox also serves today's, so a demo can reconcile at once.
        if day > now.astimezone(BEIJING).date():
            raise Refused("40004", "isp.bill_not_exist", "账单不存在")
        token = secrets.token_urlsafe(16)
        self.bills[token] = (day, now + BILL_URL_LIFETIME)
        return {"bill_download_url": f"{self.base_url}/bill/{token}"}

    def settle(self, out_trade_no: str, outcome: str, amount: Money | None = None) -> list[SandboxTrade]:
        """Apply a cashier outcome. Needs a running event loop: notifications go out as tasks."""
        order = self.orders.get(out_trade_no)
        if order is None:
            raise SandboxError(f"unknown order {out_trade_no}")
        if outcome not in OUTCOMES:
            raise SandboxError(f"unknown outcome {outcome!r}")
        now = self._clock()
        status = order.status(now)
        if status != wire.WAIT_BUYER_PAY:
            raise SandboxError(f"订单不可支付 order cannot be paid: {status}")
        if outcome == "other_amount" and amount is None:
            raise SandboxError("a different amount needs the amount")
        buyer_id, logon_id = new_buyer()
        if outcome == "fail":
            trade = SandboxTrade(
                new_trade_no(now),
                order.total_fen,
                wire.TRADE_CLOSED,
                order.created,
                buyer_id,
                logon_id,
                closed_at=now,
            )
            order.trades.append(trade)
            order.closed_at = now
            self._notify_trade(order, trade, now)
            return [trade]
        paid_fen = amount.fen if amount is not None else order.total_fen
        if paid_fen <= 0:
            raise SandboxError("the amount must be positive")
        trades = [
            SandboxTrade(
                new_trade_no(now),
                paid_fen,
                wire.TRADE_SUCCESS,
                order.created,
                buyer_id,
                logon_id,
                paid_at=now,
            )
            for _ in range(2 if outcome == "twice" else 1)
        ]
        order.trades.extend(trades)
        if outcome != "no_notify":
            for trade in trades:
                self._notify_trade(order, trade, now)
        return trades

    def _notify_trade(self, order: SandboxOrder, trade: SandboxTrade, now: datetime) -> None:
        if order.notifies(trade.status):
            self._notify(
                order, trade_fields(order, trade, app_id=self.app_id, seller_id=self.seller_id, now=now)
            )

    def _notify(self, order: SandboxOrder, fields: dict[str, str]) -> None:
        if order.notify_url:
            self._send(order, fields)
