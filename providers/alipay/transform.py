"""Pure mapping between Alipay's wire values and the service's types: statuses, amounts, times."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from payments.domain.errors import FieldError
from payments.domain.money import MAX_FEN, Money, parse_yuan
from providers.alipay import wire
from providers.base import (
    BEIJING,
    ExpectedOrder,
    NotificationEvent,
    NotificationRejected,
    RefundStatus,
    RejectReason,
    TxnStatus,
)

PROVIDER = "alipay"

# Alipay's accepted range for total_amount is [0.01, 100000000] yuan.
MAX_ORDER_FEN = 100_000_000 * 100

_TRADE_STATUS = {
    wire.WAIT_BUYER_PAY: TxnStatus.PENDING,
    wire.TRADE_SUCCESS: TxnStatus.SUCCESS,
    # Paid and past the refund window: still money received.
    wire.TRADE_FINISHED: TxnStatus.SUCCESS,
    # Closed unpaid, or closed because the whole amount was refunded.
    wire.TRADE_CLOSED: TxnStatus.CLOSED,
}

_SIGNED_YUAN = re.compile(r"-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?")


def trade_status(value: str) -> TxnStatus:
    try:
        return _TRADE_STATUS[value]
    except KeyError:
        raise ValueError(f"unknown trade_status {value!r}") from None


def yuan(amount: Money) -> str:
    """The 2-decimal yuan string Alipay wants, e.g. "100.00"; computed on integers, never a float."""
    if amount.currency != "CNY":
        raise ValueError("Alipay domestic acquiring settles in CNY only")
    return amount.yuan


def parse_amount(text: object, field: str) -> Money:
    """A positive yuan string from Alipay -> Money, strictly (ValueError otherwise)."""
    try:
        return Money(parse_yuan(text, field))
    except FieldError as exc:
        raise ValueError(str(exc)) from None


def parse_signed_fen(text: str) -> int:
    """A bill cell such as "-0.01" -> -1 fen; strict, ValueError otherwise."""
    if not _SIGNED_YUAN.fullmatch(text):
        raise ValueError(f"not a yuan amount: {text!r}")
    fen = int(Decimal(text) * 100)
    if abs(fen) > MAX_FEN:
        raise ValueError(f"amount out of range: {text!r}")
    return fen


def beijing_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no defined Beijing time")
    return moment.astimezone(BEIJING).strftime(wire.TIME_FORMAT)


def parse_beijing(text: str) -> datetime:
    """`yyyy-MM-dd HH:mm:ss`, optionally with `.SSS` (gmt_refund carries milliseconds)."""
    for fmt in (wire.TIME_FORMAT, wire.TIME_FORMAT + ".%f"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=BEIJING)
        except ValueError:
            continue
    raise ValueError(f"not an Alipay time: {text!r}")


def _optional_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_beijing(text)
    except ValueError:
        # A timestamp is context for the audit trail; a signed notification is not refused over it.
        return None


def _required(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise NotificationRejected(RejectReason.MALFORMED, f"missing {name}")
    return value


def is_refund_notification(fields: Mapping[str, str]) -> bool:
    # Refund notifications are trade_status_sync messages that additionally carry the refund request.
    return bool(fields.get("out_biz_no")) and bool(fields.get("refund_fee") or fields.get("gmt_refund"))


def notification_event(fields: Mapping[str, str]) -> NotificationEvent:
    """A verified notification's fields -> NotificationEvent. Raises NotificationRejected(MALFORMED)."""
    trade_no = _required(fields, "trade_no")
    out_trade_no = _required(fields, "out_trade_no")
    status_text = _required(fields, "trade_status")
    app_id = _required(fields, "app_id")
    try:
        status = trade_status(status_text)
    except ValueError as exc:
        raise NotificationRejected(RejectReason.MALFORMED, str(exc)) from None
    verified = dict(fields)
    verified.pop("sign", None)
    if is_refund_notification(fields):
        out_biz_no = fields["out_biz_no"]
        try:
            # refund_fee is the trade's cumulative refunded amount, not just this refund's.
            amount = parse_amount(_required(fields, "refund_fee"), "refund_fee")
        except ValueError as exc:
            raise NotificationRejected(RejectReason.MALFORMED, str(exc)) from None
        return NotificationEvent(
            provider=PROVIDER,
            kind="refund",
            event_key=f"{trade_no}:refund:{out_biz_no}",
            out_trade_no=out_trade_no,
            provider_txn_id=trade_no,
            status=RefundStatus.SUCCESS,
            amount=amount,
            merchant_id=app_id,
            occurred_at=_optional_time(fields.get("gmt_refund")),
            refund_no=out_biz_no,
            fields=verified,
        )
    try:
        # total_amount, not receipt_amount: the latter shrinks when Alipay-side discounts apply.
        amount = parse_amount(_required(fields, "total_amount"), "total_amount")
    except ValueError as exc:
        raise NotificationRejected(RejectReason.MALFORMED, str(exc)) from None
    when = {
        TxnStatus.SUCCESS: fields.get("gmt_payment"),
        TxnStatus.CLOSED: fields.get("gmt_close"),
    }.get(status) or fields.get("notify_time")
    return NotificationEvent(
        provider=PROVIDER,
        kind="payment",
        event_key=f"{trade_no}:{status_text}",
        out_trade_no=out_trade_no,
        provider_txn_id=trade_no,
        status=status,
        amount=amount,
        merchant_id=app_id,
        occurred_at=_optional_time(when),
        fields=verified,
    )


def check_integrity(event: NotificationEvent, expected: ExpectedOrder) -> None:
    """Alipay's business checks after the signature: our order, our currency, the order's amount."""
    if event.out_trade_no != expected.out_trade_no:
        raise NotificationRejected(
            RejectReason.UNKNOWN_ORDER, f"out_trade_no {event.out_trade_no!r} is not the expected order"
        )
    if event.amount.currency != expected.amount.currency:
        raise NotificationRejected(
            RejectReason.CURRENCY_MISMATCH, f"{event.amount.currency} vs {expected.amount.currency}"
        )
    if event.kind == "refund":
        # refund_fee accumulates over partial refunds, so it can only be bounded by the order total.
        if event.amount.fen > expected.amount.fen:
            raise NotificationRejected(
                RejectReason.AMOUNT_MISMATCH, f"refunded {event.amount} exceeds order {expected.amount}"
            )
        return
    if event.amount.fen != expected.amount.fen:
        raise NotificationRejected(
            RejectReason.AMOUNT_MISMATCH, f"notified {event.amount}, order is {expected.amount}"
        )
