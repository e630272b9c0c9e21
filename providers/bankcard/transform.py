"""Pure mapping between ACP wire values and the rail-neutral types of providers.base."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Literal

from payments.domain.money import MAX_FEN, Money
from providers.bankcard import wire
from providers.base import (
    BEIJING,
    OUT_TRADE_NO,
    ExpectedOrder,
    NotificationEvent,
    NotificationRejected,
    RefundStatus,
    RejectReason,
    TxnStatus,
)

PROVIDER = "bankcard"

_DIGITS = re.compile(r"[0-9]{1,12}")
_TXN_TIME = re.compile(r"[0-9]{14}")
_MMDDHHMMSS = re.compile(r"[0-9]{10}")

# What a verified notification may hand to the audit trail. An allowlist, not a denylist, so that a
# field UnionPay adds later (possibly holding card data) stays out until someone looks at it.
AUDIT_FIELDS = frozenset(
    {
        "version", "signMethod", "txnType", "txnSubType", "bizType", "accessType", "channelType",
        "merId", "orderId", "txnTime", "txnAmt", "currencyCode", "queryId", "origQryId",
        "respCode", "respMsg", "origRespCode", "origRespMsg", "traceNo", "traceTime", "settleAmt",
        "settleCurrencyCode", "settleDate", "payCardType", "payType", "reqReserved",
    }
)  # fmt: skip
assert not AUDIT_FIELDS & wire.SENSITIVE_FIELDS


def txn_time_text(moment: datetime) -> str:
    """YYYYMMDDhhmmss in Beijing time, as txnTime and payTimeout want."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def parse_txn_time(text: str) -> datetime:
    if not _TXN_TIME.fullmatch(text):
        raise ValueError("txnTime must be 14 digits")
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)


def txn_amt_text(amount: Money) -> str:
    if amount.currency != "CNY" or amount.fen <= 0:
        raise ValueError("UnionPay amounts are positive CNY")
    return str(amount.fen)


def fen_from_digits(text: str) -> int:
    """txnAmt and statement amounts: fen as plain digits (zero padding allowed), at most MAX_FEN."""
    if not _DIGITS.fullmatch(text):
        raise ValueError("amount must be 1-12 digits of fen")
    fen = int(text)
    if fen > MAX_FEN:
        raise ValueError("amount too large")
    return fen


def nearest_datetime(mmddhhmmss: str, anchor: date) -> datetime:
    """Give a year-less MMDDhhmmss the year that puts it nearest `anchor` (Beijing time).

    Statements anchor on the settle date (a 31 Dec transaction settles on 1 Jan); notifications
    anchor traceTime on the order's txnTime.
    """
    if not _MMDDHHMMSS.fullmatch(mmddhhmmss):
        raise ValueError("time must be MMDDhhmmss")
    month, day = int(mmddhhmmss[0:2]), int(mmddhhmmss[2:4])
    hour, minute, second = int(mmddhhmmss[4:6]), int(mmddhhmmss[6:8]), int(mmddhhmmss[8:10])
    candidates = []
    for year in (anchor.year - 1, anchor.year, anchor.year + 1):
        try:
            candidates.append(datetime(year, month, day, hour, minute, second, tzinfo=BEIJING))
        except ValueError:
            continue  # 29 Feb outside a leap year, or an impossible date
    if not candidates:
        raise ValueError("time is not a calendar date and time")
    noon = datetime(anchor.year, anchor.month, anchor.day, 12, tzinfo=BEIJING)
    return min(candidates, key=lambda moment: abs(moment - noon))


def payment_status(resp_code: str) -> TxnStatus:
    return TxnStatus.SUCCESS if resp_code in wire.SUCCESS_CODES else TxnStatus.FAILED


def refund_status(resp_code: str) -> RefundStatus:
    return RefundStatus.SUCCESS if resp_code in wire.SUCCESS_CODES else RefundStatus.FAILED


def queried_order_status(resp_code: str, orig_resp_code: str) -> TxnStatus | None:
    """Interpret a queryTrans.do answer about a consume (providers.md 3.4).

    None means the query itself did not get an answer (respCode 03/04/05, busy): ask again later.
    """
    if resp_code == wire.RESP_SUCCESS:
        if orig_resp_code in wire.SUCCESS_CODES:
            return TxnStatus.SUCCESS
        if orig_resp_code in wire.PROCESSING_CODES:
            return TxnStatus.PENDING
        return TxnStatus.FAILED
    if resp_code == wire.RESP_NOT_FOUND:
        return TxnStatus.NOT_FOUND
    return None


def queried_refund_status(resp_code: str, orig_resp_code: str) -> RefundStatus | None:
    if resp_code != wire.RESP_SUCCESS:
        return None
    if orig_resp_code in wire.SUCCESS_CODES:
        return RefundStatus.SUCCESS
    if orig_resp_code in wire.PROCESSING_CODES:
        return RefundStatus.PROCESSING
    return RefundStatus.FAILED


def audit_fields(fields: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if k in AUDIT_FIELDS}


def _required(fields: Mapping[str, str], *names: str) -> None:
    missing = [name for name in names if not fields.get(name)]
    if missing:
        raise NotificationRejected(RejectReason.MALFORMED, f"missing {', '.join(missing)}")


def notification_event(fields: Mapping[str, str]) -> NotificationEvent:
    """Map a verified back notification to a NotificationEvent.

    event_key is queryId + ":" + status: a retry repeats both, a second payment of the same order
    has its own queryId. A refund notification carries the refund's own orderId (our refund_no) and
    origQryId; the consume's orderId is not in it, so out_trade_no comes from reqReserved, where
    the client puts it when asking for the refund (empty if absent).
    """
    _required(fields, "txnType", "orderId", "queryId", "respCode", "txnAmt", "txnTime", "merId")
    currency = fields.get("currencyCode", wire.CURRENCY_CNY)
    if currency != wire.CURRENCY_CNY:
        # Money cannot hold another currency, so this cannot wait for check_integrity.
        raise NotificationRejected(RejectReason.CURRENCY_MISMATCH, "currencyCode is not 156")
    try:
        amount = Money(fen_from_digits(fields["txnAmt"]))
        occurred_at = parse_txn_time(fields["txnTime"])
    except ValueError as exc:
        raise NotificationRejected(RejectReason.MALFORMED, str(exc)) from exc
    try:
        # traceTime is UnionPay's own time of the transaction (the payment, not the order's creation),
        # but it has no year; without a usable one the order's txnTime has to do.
        occurred_at = nearest_datetime(fields.get("traceTime", ""), occurred_at.date())
    except ValueError:
        pass
    txn_type = fields["txnType"]
    if txn_type == wire.TXN_CONSUME:
        kind: Literal["payment", "refund"] = "payment"
        status: TxnStatus | RefundStatus = payment_status(fields["respCode"])
        out_trade_no, refund_no = fields["orderId"], ""
    elif txn_type == wire.TXN_REFUND:
        _required(fields, "origQryId")
        kind, status = "refund", refund_status(fields["respCode"])
        reserved = fields.get("reqReserved", "")
        out_trade_no = reserved if OUT_TRADE_NO.fullmatch(reserved) else ""
        refund_no = fields["orderId"]
    else:
        raise NotificationRejected(RejectReason.MALFORMED, f"unsupported txnType {txn_type[:4]!r}")
    return NotificationEvent(
        provider=PROVIDER,
        kind=kind,
        event_key=f"{fields['queryId']}:{status.value}",
        out_trade_no=out_trade_no,
        provider_txn_id=fields["queryId"],
        status=status,
        amount=amount,
        merchant_id=fields["merId"],
        occurred_at=occurred_at,
        refund_no=refund_no,
        fields=audit_fields(fields),
    )


def check_integrity(event: NotificationEvent, expected: ExpectedOrder) -> None:
    """The business cross-check of section 0: our order, and the amount we asked for.

    A payment must equal the order total. A refund must not exceed it (its own amount is the
    refund); its out_trade_no is known only when reqReserved carried it.
    """
    if event.kind == "payment" or event.out_trade_no:
        if event.out_trade_no != expected.out_trade_no:
            raise NotificationRejected(RejectReason.UNKNOWN_ORDER, "orderId is not the expected order")
    if event.amount.currency != expected.amount.currency:
        raise NotificationRejected(RejectReason.CURRENCY_MISMATCH, "currency differs from the order")
    if event.kind == "payment" and event.amount.fen != expected.amount.fen:
        raise NotificationRejected(RejectReason.AMOUNT_MISMATCH, "txnAmt differs from the order amount")
    if event.kind == "refund" and event.amount.fen > expected.amount.fen:
        raise NotificationRejected(RejectReason.AMOUNT_MISMATCH, "refund exceeds the order amount")
