"""The events case systems receive: a versioned msgspec tagged union, each type with an example.

Every body is `{"type", "id", "version", "timestamp", "data"}` (the Standard Webhooks payload shape plus
the event id and a version). `data` carries ids, statuses and integer fen amounts, never personal data:
the structs below name every field that can leave, and whatever else an outbox payload holds is dropped.

A change that breaks a consumer gets a new `version` of that type; fields are only ever added within one.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

import msgspec

log = logging.getLogger("payrecon.webhooks")


class _Data(msgspec.Struct, kw_only=True):
    pass


class AllocationLine(msgspec.Struct):
    debt_id: str  # the case system's own debt id
    component: str  # fees | interest | principal
    amount_fen: int


class Balance(msgspec.Struct):
    principal_fen: int
    interest_fen: int
    fees_fen: int
    total_fen: int


class PaymentReceivedData(_Data):
    payment_id: str
    order_id: str | None
    case_id: str | None
    provider: str  # alipay | wechatpay | bankcard
    amount_fen: int
    currency: str
    source: str  # notification | query | statement | import
    status: str  # unmatched | exception (held for finance)
    received_at: datetime


class PaymentMatchedData(_Data):
    payment_id: str
    case_id: str
    amount_fen: int
    applied_fen: int
    surplus_fen: int  # beyond what the case owed: a credit on the case, to be refunded
    basis: str  # civil_code_art_560_561, or the client contract's
    allocations: list[AllocationLine]


class PaymentUnmatchedData(_Data):
    payment_id: str
    provider: str
    amount_fen: int
    currency: str
    received_at: datetime
    reason: str  # why no case could be chosen; finance reviews it


class PaymentRefundedData(_Data):
    payment_id: str
    refund_id: str
    case_id: str | None
    amount_fen: int
    currency: str
    status: str
    refunded_at: datetime


class CaseUpdatedData(_Data):
    case_id: str
    status: str
    balance: Balance  # still owed, by component
    credit_fen: int


class CaseClosedData(_Data):
    case_id: str
    status: str  # paid | settled | ...


class LinkCreatedData(_Data):
    link_id: str
    case_id: str
    status: str
    expires_at: datetime
    url: str  # the borrower's link, to send by SMS or letter


class LinkExpiredData(_Data):
    link_id: str
    case_id: str


class ReconciliationExceptionData(_Data):
    exception_id: str
    kind: str  # amount_mismatch | currency_mismatch | missing_in_statement | ...
    provider: str
    payment_id: str | None
    out_trade_no: str | None
    amount_fen: int | None
    created_at: datetime


class DayClosedData(_Data):
    business_date: date  # Beijing time
    provider: str | None  # None: all rails
    payments_count: int
    payments_fen: int
    matched_count: int
    unmatched_count: int
    exceptions_count: int


class _Event(msgspec.Struct, kw_only=True, tag_field="type"):
    id: str  # the event id: the same for every endpoint it goes to (webhook-id is per endpoint)
    version: int = 1
    timestamp: datetime  # when the change happened


class PaymentReceived(_Event, tag="payment.received", kw_only=True):
    """Money arrived for one of our orders (it may still need matching)."""

    data: PaymentReceivedData


class PaymentMatched(_Event, tag="payment.matched", kw_only=True):
    """A payment was applied to a case: allocations in the legal (or contract) order."""

    data: PaymentMatchedData


class PaymentUnmatched(_Event, tag="payment.unmatched", kw_only=True):
    """Money arrived that could not be matched to a case; finance reviews it."""

    data: PaymentUnmatchedData


class PaymentRefunded(_Event, tag="payment.refunded", kw_only=True):
    """A payment, or part of it, was refunded to the payer."""

    data: PaymentRefundedData


class CaseUpdated(_Event, tag="case.updated", kw_only=True):
    """A case's balance or status changed: the balance still owed, by component."""

    data: CaseUpdatedData


class CaseClosed(_Event, tag="case.closed", kw_only=True):
    """A case reached a closed status (paid in full, settled)."""

    data: CaseClosedData


class LinkCreated(_Event, tag="link.created", kw_only=True):
    """A payment link was issued for a case."""

    data: LinkCreatedData


class LinkExpired(_Event, tag="link.expired", kw_only=True):
    """A payment link passed its expiry unpaid (or partly paid)."""

    data: LinkExpiredData


class ReconciliationException(_Event, tag="reconciliation.exception", kw_only=True):
    """Something did not add up (amount, currency, statement line): finance must look at it."""

    data: ReconciliationExceptionData


class ReconciliationDayClosed(_Event, tag="reconciliation.day_closed", kw_only=True):
    """A business day was reconciled against the providers' statements."""

    data: DayClosedData


WebhookEvent = (
    PaymentReceived
    | PaymentMatched
    | PaymentUnmatched
    | PaymentRefunded
    | CaseUpdated
    | CaseClosed
    | LinkCreated
    | LinkExpired
    | ReconciliationException
    | ReconciliationDayClosed
)
EVENT_CLASSES: dict[str, type[_Event]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (
        PaymentReceived,
        PaymentMatched,
        PaymentUnmatched,
        PaymentRefunded,
        CaseUpdated,
        CaseClosed,
        LinkCreated,
        LinkExpired,
        ReconciliationException,
        ReconciliationDayClosed,
    )
}
EVENT_TYPES = tuple(EVENT_CLASSES)


def render(event_type: str, event_id: str, at: datetime, payload: dict[str, Any]) -> bytes | None:
    """The body for an outbox event, or None for a type case systems do not get (logged)."""
    cls = EVENT_CLASSES.get(event_type)
    if cls is None:
        log.warning("outbox event %s has type %s, which no webhook carries", event_id, event_type)
        return None
    try:
        data = msgspec.convert(payload, _DATA[cls], strict=False)
    except msgspec.ValidationError as exc:
        log.error("outbox event %s (%s) does not fit its webhook: %s", event_id, event_type, exc)
        return None
    return msgspec.json.encode(cls(id=event_id, timestamp=at.astimezone(UTC), data=data))  # type: ignore[call-arg]


_DATA: dict[type[_Event], type[_Data]] = {
    PaymentReceived: PaymentReceivedData,
    PaymentMatched: PaymentMatchedData,
    PaymentUnmatched: PaymentUnmatchedData,
    PaymentRefunded: PaymentRefundedData,
    CaseUpdated: CaseUpdatedData,
    CaseClosed: CaseClosedData,
    LinkCreated: LinkCreatedData,
    LinkExpired: LinkExpiredData,
    ReconciliationException: ReconciliationExceptionData,
    ReconciliationDayClosed: DayClosedData,
}

# -- documentation: one example of each, shown by GET /v1/webhook-events and in the README ---------------

_AT = datetime(2026, 11, 28, 6, 30, 5, tzinfo=UTC)
_CASE = "case_01kb3v8m2x7q9r4t6w8y0z1a2b"
_PAY = "pay_01kb3vb3d5f7h9k1m3p5r7t9v1"
_LINK = "lnk_01kb3v9n4c6e8g0j2l4n6q8s0u"

EXAMPLES: dict[str, WebhookEvent] = {
    "payment.received": PaymentReceived(
        id="evt_01kb3vb3d6a8c0e2g4j6l8n0q2",
        timestamp=_AT,
        data=PaymentReceivedData(
            payment_id=_PAY,
            order_id="ord_01kb3vad2b4d6f8h0k2m4p6r8t",
            case_id=_CASE,
            provider="alipay",
            amount_fen=100_000,
            currency="CNY",
            source="notification",
            status="unmatched",
            received_at=_AT,
        ),
    ),
    "payment.matched": PaymentMatched(
        id="evt_01kb3vb3d7b9d1f3h5k7m9p1r3",
        timestamp=_AT,
        data=PaymentMatchedData(
            payment_id=_PAY,
            case_id=_CASE,
            amount_fen=100_000,
            applied_fen=100_000,
            surplus_fen=0,
            basis="civil_code_art_560_561",
            allocations=[
                AllocationLine("loan-1", "fees", 2_000),
                AllocationLine("loan-1", "interest", 5_000),
                AllocationLine("loan-1", "principal", 93_000),
            ],
        ),
    ),
    "payment.unmatched": PaymentUnmatched(
        id="evt_01kb3vc0a1c3e5g7j9l1n3q5s7",
        timestamp=_AT,
        data=PaymentUnmatchedData(
            payment_id="pay_01kb3vc0a0b2d4f6h8k0m2p4r6",
            provider="bankcard",
            amount_fen=50_000,
            currency="CNY",
            received_at=_AT,
            reason="no_reference",
        ),
    ),
    "payment.refunded": PaymentRefunded(
        id="evt_01kb3vd1b2d4f6h8k0m2p4r6t8",
        timestamp=_AT,
        data=PaymentRefundedData(
            payment_id=_PAY,
            refund_id="rfd_01kb3vd1b1c3e5g7j9l1n3q5s7",
            case_id=_CASE,
            amount_fen=3_000,
            currency="CNY",
            status="succeeded",
            refunded_at=_AT,
        ),
    ),
    "case.updated": CaseUpdated(
        id="evt_01kb3vb3d8c0e2g4j6l8n0q2s4",
        timestamp=_AT,
        data=CaseUpdatedData(
            case_id=_CASE,
            status="partially_paid",
            balance=Balance(principal_fen=507_000, interest_fen=0, fees_fen=0, total_fen=507_000),
            credit_fen=0,
        ),
    ),
    "case.closed": CaseClosed(
        id="evt_01kb3vb3d9d1f3h5k7m9p1r3t5", timestamp=_AT, data=CaseClosedData(case_id=_CASE, status="paid")
    ),
    "link.created": LinkCreated(
        id="evt_01kb3v9n4d7f9h1k3m5p7r9t1v",
        timestamp=_AT,
        data=LinkCreatedData(
            link_id=_LINK,
            case_id=_CASE,
            status="active",
            expires_at=datetime(2026, 12, 5, 6, 30, 5, tzinfo=UTC),
            url="https://pay.example.com/pay/Xk2p9Qw7Zr4Tn8Lm3Hv6",
        ),
    ),
    "link.expired": LinkExpired(
        id="evt_01kb3ve2c3e5g7j9l1n3q5s7u9", timestamp=_AT, data=LinkExpiredData(link_id=_LINK, case_id=_CASE)
    ),
    "reconciliation.exception": ReconciliationException(
        id="evt_01kb3vf3d4f6h8k0m2p4r6t8v0",
        timestamp=_AT,
        data=ReconciliationExceptionData(
            exception_id="exc_01kb3vf3d3e5g7j9l1n3q5s7u9",
            kind="amount_mismatch",
            provider="wechatpay",
            payment_id="pay_01kb3vf3d2d4f6h8k0m2p4r6t8",
            out_trade_no="P20261128063005A1B2C3",
            amount_fen=99_000,
            created_at=_AT,
        ),
    ),
    "reconciliation.day_closed": ReconciliationDayClosed(
        id="evt_01kb3vg4e5g7j9l1n3q5s7u9w1",
        timestamp=_AT,
        data=DayClosedData(
            business_date=date(2026, 11, 27),
            provider=None,
            payments_count=1_284,
            payments_fen=96_512_300,
            matched_count=1_279,
            unmatched_count=3,
            exceptions_count=2,
        ),
    ),
}


def summary(event_type: str) -> str:
    doc = EVENT_CLASSES[event_type].__doc__ or ""
    return " ".join(doc.split())


def json_schema() -> dict[str, Any]:
    """JSON Schema of every event body (a oneOf discriminated by `type`)."""
    return msgspec.json.schema(WebhookEvent)  # type: ignore[arg-type]
