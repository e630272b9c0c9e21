"""Pure mapping between WeChat's vocabulary and the service's typed values."""

from __future__ import annotations

from datetime import UTC, datetime

from payments.domain.money import MAX_FEN, Money
from providers.base import (
    BEIJING,
    ExpectedOrder,
    NotificationEvent,
    NotificationRejected,
    RefundStatus,
    RejectReason,
    TxnStatus,
)

TRADE_STATES: dict[str, TxnStatus] = {
    "SUCCESS": TxnStatus.SUCCESS,
    "NOTPAY": TxnStatus.PENDING,
    "USERPAYING": TxnStatus.PENDING,
    "CLOSED": TxnStatus.CLOSED,
    "REVOKED": TxnStatus.CLOSED,
    "PAYERROR": TxnStatus.FAILED,
    "REFUND": TxnStatus.REFUNDED,
}

# CLOSED (the refund was withdrawn) and ABNORMAL (the money could not reach the payer and needs manual
# handling on the merchant platform) both mean "the payer has not been refunded".
REFUND_STATES: dict[str, RefundStatus] = {
    "SUCCESS": RefundStatus.SUCCESS,
    "PROCESSING": RefundStatus.PROCESSING,
    "CLOSED": RefundStatus.FAILED,
    "ABNORMAL": RefundStatus.FAILED,
}


class WireValueError(ValueError):
    """A field of a WeChat document is missing or of the wrong shape."""


def trade_status(trade_state: object) -> TxnStatus:
    if not isinstance(trade_state, str) or trade_state not in TRADE_STATES:
        raise WireValueError(f"unknown trade_state {trade_state!r}")
    return TRADE_STATES[trade_state]


def refund_status(status: object) -> RefundStatus:
    if not isinstance(status, str) or status not in REFUND_STATES:
        raise WireValueError(f"unknown refund status {status!r}")
    return REFUND_STATES[status]


def fen(value: object, field: str) -> int:
    """An integer fen amount from JSON; bool and float are refused (JSON 1.0 is not an amount)."""
    if type(value) is not int or not 0 <= value <= MAX_FEN:
        raise WireValueError(f"{field} must be an integer number of fen")
    return value


def money(value: object, currency: object, field: str) -> Money:
    amount = fen(value, field)
    code = "CNY" if currency is None else currency
    if not isinstance(code, str):
        raise WireValueError(f"{field} currency must be a string")
    return Money(amount, code)


def text(doc: object, key: str) -> str:
    if not isinstance(doc, dict):
        raise WireValueError("expected a JSON object")
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise WireValueError(f"{key} is missing")
    return value


def obj(doc: object, key: str) -> dict[str, object]:
    if not isinstance(doc, dict):
        raise WireValueError("expected a JSON object")
    value = doc.get(key)
    if not isinstance(value, dict):
        raise WireValueError(f"{key} is missing")
    return value


def rfc3339(moment: datetime) -> str:
    """WeChat's time format: Beijing time with an explicit +08:00 offset, whole seconds."""
    if moment.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M:%S+08:00")


def parse_rfc3339(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def check_integrity(event: NotificationEvent, expected: ExpectedOrder) -> None:
    """The business cross-check after the signature: our order, our currency, the right amount."""
    if event.out_trade_no != expected.out_trade_no:
        raise NotificationRejected(RejectReason.UNKNOWN_ORDER, f"notification is for {event.out_trade_no}")
    if event.amount.currency != expected.amount.currency:
        raise NotificationRejected(
            RejectReason.CURRENCY_MISMATCH, f"{event.amount.currency} != {expected.amount.currency}"
        )
    if event.kind == "payment":
        if event.amount.fen != expected.amount.fen:
            raise NotificationRejected(
                RejectReason.AMOUNT_MISMATCH, f"paid {event.amount.fen} fen, order is {expected.amount.fen}"
            )
        return
    # A refund notice carries the order total it refers to; the refund itself may be partial.
    total = event.fields.get("amount.total", "")
    if total != str(expected.amount.fen) or event.amount.fen > expected.amount.fen:
        raise NotificationRejected(
            RejectReason.AMOUNT_MISMATCH, f"refund of {event.amount.fen} fen against order total {total}"
        )
