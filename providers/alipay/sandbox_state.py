"""The sandbox's in-memory trades and refunds, and the Alipay-shaped fields it derives from them.

Pure data and pure functions; the HTTP side and notification delivery live in sandbox.py.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from payments.domain.money import format_yuan
from providers.alipay import wire
from providers.alipay.sandbox_bill import BillRow
from providers.base import BEIJING

# Alipay's standard rate for online acquiring; the sandbox charges it so bills carry real fees.
FEE_PER_MILLE = 6


def beijing(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime(wire.TIME_FORMAT)


def beijing_ms(moment: datetime) -> str:
    local = moment.astimezone(BEIJING)
    return local.strftime(wire.TIME_FORMAT) + f".{local.microsecond // 1000:03d}"


def new_trade_no(now: datetime) -> str:
    # Alipay trade numbers are 28 digits starting with the Beijing date.
    return now.astimezone(BEIJING).strftime("%Y%m%d") + "22001" + f"{secrets.randbelow(10**15):015d}"


def new_buyer() -> tuple[str, str]:
    return "2088" + f"{secrets.randbelow(10**12):012d}", f"138****{secrets.randbelow(10**4):04d}"


def service_fee(amount_fen: int) -> int:
    return (amount_fen * FEE_PER_MILLE + 500) // 1000


@dataclass
class SandboxTrade:
    trade_no: str
    amount_fen: int  # the trade's total_amount (what the buyer paid, or would have)
    status: str
    created: datetime
    buyer_id: str
    buyer_logon_id: str
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    refunded_fen: int = 0


@dataclass
class SandboxRefund:
    out_request_no: str
    trade_no: str
    amount_fen: int
    reason: str
    at: datetime


@dataclass
class SandboxOrder:
    out_trade_no: str
    subject: str
    total_fen: int
    method: str  # wire.PRECREATE or wire.WAP_PAY
    notify_url: str
    return_url: str
    time_expire: datetime | None
    code: str  # the cashier's handle for this order
    created: datetime
    trades: list[SandboxTrade] = field(default_factory=list)
    refunds: dict[str, SandboxRefund] = field(default_factory=dict)
    closed_at: datetime | None = None

    @property
    def primary(self) -> SandboxTrade | None:
        return self.trades[0] if self.trades else None

    def status(self, now: datetime) -> str:
        if self.primary is not None:
            return self.primary.status
        if self.closed_at is not None or (self.time_expire is not None and now >= self.time_expire):
            return wire.TRADE_CLOSED
        return wire.WAIT_BUYER_PAY

    def notifies(self, trade_status: str, *, refund: bool = False) -> bool:
        """Which events send a notification, by product (providers.md 1.5).

        WAP sends TRADE_SUCCESS, TRADE_CLOSED and TRADE_FINISHED, refunds included; face-to-face QR
        sends only TRADE_SUCCESS for a payment.
        """
        if self.method == wire.WAP_PAY:
            return True
        return trade_status == wire.TRADE_SUCCESS and not refund


def trade_fields(
    order: SandboxOrder, trade: SandboxTrade, *, app_id: str, seller_id: str, now: datetime
) -> dict[str, str]:
    """A trade_status_sync notification's fields, unsigned. No field is ever empty."""
    fields: dict[str, str] = {
        "gmt_create": beijing(trade.created),
        "charset": wire.CHARSET,
        "seller_id": seller_id,
        "subject": order.subject,
        "notify_time": beijing(now),
        "notify_type": wire.NOTIFY_TYPE,
        "notify_id": f"{now.astimezone(BEIJING):%Y%m%d}00222{secrets.randbelow(10**20):020d}",
        "buyer_id": trade.buyer_id,
        "buyer_logon_id": trade.buyer_logon_id,
        "app_id": app_id,
        "auth_app_id": app_id,
        "version": wire.VERSION,
        "sign_type": wire.SIGN_TYPE,
        "trade_no": trade.trade_no,
        "out_trade_no": order.out_trade_no,
        "trade_status": trade.status,
        "total_amount": format_yuan(trade.amount_fen),
    }
    if trade.paid_at is not None:
        paid = format_yuan(trade.amount_fen)
        fields.update(
            gmt_payment=beijing(trade.paid_at),
            receipt_amount=paid,
            invoice_amount=paid,
            buyer_pay_amount=paid,
            point_amount="0.00",
            fund_bill_list=json.dumps(
                [{"amount": paid, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")
            ),
        )
    if trade.closed_at is not None:
        fields["gmt_close"] = beijing(trade.closed_at)
    return fields


def return_fields(
    order: SandboxOrder, trade: SandboxTrade, *, app_id: str, seller_id: str, now: datetime
) -> dict[str, str]:
    """The query Alipay appends to return_url after a WAP payment (display only)."""
    return {
        "charset": wire.CHARSET,
        "out_trade_no": order.out_trade_no,
        "method": wire.WAP_PAY + ".return",
        "total_amount": format_yuan(trade.amount_fen),
        "trade_no": trade.trade_no,
        "auth_app_id": app_id,
        "version": wire.VERSION,
        "app_id": app_id,
        "sign_type": wire.SIGN_TYPE,
        "seller_id": seller_id,
        "timestamp": beijing(now),
    }


def bill_rows(orders: list[SandboxOrder], day: date) -> list[BillRow]:
    """Every payment completed and every refund made on `day` (Beijing), notified or not."""
    start = datetime(day.year, day.month, day.day, tzinfo=BEIJING)
    end = start + timedelta(days=1)
    rows: list[BillRow] = []
    for order in orders:
        by_no = {t.trade_no: t for t in order.trades}
        for trade in order.trades:
            if trade.paid_at is not None and start <= trade.paid_at < end:
                rows.append(
                    BillRow(
                        trade_no=trade.trade_no,
                        out_trade_no=order.out_trade_no,
                        kind="交易",
                        subject=order.subject,
                        created=trade.created,
                        finished=trade.paid_at,
                        buyer=trade.buyer_logon_id,
                        amount_fen=trade.amount_fen,
                        fee_fen=-service_fee(trade.amount_fen),
                    )
                )
        for refund in order.refunds.values():
            if start <= refund.at < end:
                trade = by_no[refund.trade_no]
                rows.append(
                    BillRow(
                        trade_no=trade.trade_no,
                        out_trade_no=order.out_trade_no,
                        kind="退款",
                        subject=order.subject,
                        created=trade.created,
                        finished=refund.at,
                        buyer=trade.buyer_logon_id,
                        amount_fen=-refund.amount_fen,
                        fee_fen=service_fee(refund.amount_fen),
                        refund_no=refund.out_request_no,
                    )
                )
    return rows
