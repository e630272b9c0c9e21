"""The Provider protocol every payment rail implements, and the typed values that cross it.

Rails speak their provider's wire format inside their own package; everything that leaves a rail is
one of the types below, with money as `Money` (integer fen). Nothing here does I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Literal, Protocol, runtime_checkable

from payments.domain.money import Money

# Every provider in scope states its times in Beijing time.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

# One merchant order number usable on all three rails (see providers.md section 0).
OUT_TRADE_NO = re.compile(r"[A-Za-z0-9]{8,32}")


class TxnStatus(enum.StrEnum):
    """Status of a provider transaction, mapped from each rail's own vocabulary."""

    PENDING = "pending"  # created, not paid yet (Alipay WAIT_BUYER_PAY, WeChat NOTPAY/USERPAYING)
    SUCCESS = "success"  # money received
    FAILED = "failed"  # payment attempted and failed
    CLOSED = "closed"  # closed unpaid (or, on Alipay, fully refunded)
    REFUNDED = "refunded"  # WeChat trade_state REFUND
    NOT_FOUND = "not_found"  # the provider does not know the order


class RefundStatus(enum.StrEnum):
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"


class Scene(enum.StrEnum):
    """Where the borrower pays: the pay page picks one; the rail picks its product for it."""

    QR = "qr"  # desktop browser: show a QR to scan with the provider's app
    MOBILE = "mobile"  # phone browser or in-app browser: redirect into the provider's flow
    # Inside the provider's own app, with the payer already known to it (OrderRequest.payer_id): the
    # page calls the app's payment bridge (WeChat JSAPI). A rail without such a product treats it as MOBILE.
    IN_APP = "in_app"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    out_trade_no: str  # matches OUT_TRADE_NO
    amount: Money
    subject: str  # shown by the provider to the payer; never personal data
    notify_url: str
    return_url: str  # display only: never proof of payment
    expires_at: datetime  # timezone-aware
    scene: Scene
    client_ip: str = "127.0.0.1"
    # The payer's id at the provider for Scene.IN_APP (WeChat: the openid under our official account).
    # Used for this one request and never stored by the service; kept out of reprs, so out of logs.
    payer_id: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class PayAction:
    """What the pay page does next.

    kind "qr": show `qr_payload` as a QR code. "redirect": send the browser to `url`.
    "form": render an auto-submitting POST form to `url` with `fields` (the bank card hosted page).
    "bridge": the page hands `fields` to the provider app's in-page payment bridge (WeChat
    `getBrandWCPayRequest`); `provider_ref` lets the rail sign them again later (see InAppPayments).
    """

    kind: Literal["qr", "redirect", "form", "bridge"]
    url: str = ""
    qr_payload: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    # Opaque to the service: what the rail needs later to query, close or refund this order
    # (UnionPay identifies an order by orderId plus its original txnTime). Stored with the order.
    provider_ref: str = ""


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    """A notification whose signature (and, for WeChat, timestamp and decryption) has been verified.

    `event_key` is unique per provider event (provider transaction id + status, or refund number +
    status), so storing it under a unique constraint makes processing exactly-once.
    The business cross-check against our order is a separate step: see `check_integrity`.
    """

    provider: str
    kind: Literal["payment", "refund"]
    event_key: str
    out_trade_no: str
    provider_txn_id: str
    status: TxnStatus | RefundStatus
    amount: Money  # for payments the order total; for refunds the refunded amount
    merchant_id: str  # Alipay app_id, WeChat mchid, UnionPay merId
    occurred_at: datetime | None = None
    refund_no: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)  # verified business fields, for audit


class RejectReason(enum.StrEnum):
    MALFORMED = "malformed"  # not parseable as the provider's format
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"  # serial / certId / cert chain not one we trust
    STALE_TIMESTAMP = "stale_timestamp"
    DECRYPT_FAILED = "decrypt_failed"
    FOREIGN_MERCHANT = "foreign_merchant"  # signed correctly, but for another app / merchant
    UNKNOWN_ORDER = "unknown_order"
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"


class NotificationRejected(Exception):
    """A notification that must not change any state. `reason` is for the security log."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class ProviderError(Exception):
    """The provider answered a request with an error, or could not be reached."""

    def __init__(self, code: str, detail: str = "", *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail
        self.retryable = retryable


class StatementError(Exception):
    """A statement file that cannot be parsed; `line` is 1-based where known."""

    def __init__(self, detail: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {detail}" if line else detail)
        self.detail = detail
        self.line = line


@dataclass(frozen=True, slots=True)
class Ack:
    """The HTTP answer a provider expects to a notification."""

    status_code: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class ExpectedOrder:
    """Our record of an order, for the business cross-check of a verified notification."""

    out_trade_no: str
    amount: Money


@dataclass(frozen=True, slots=True)
class OrderState:
    out_trade_no: str
    status: TxnStatus
    provider_txn_id: str = ""
    amount: Money | None = None
    paid_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RefundRequest:
    out_trade_no: str
    refund_no: str  # ours; idempotency key at the provider (matches OUT_TRADE_NO)
    amount: Money  # this refund
    order_total: Money  # the original payment (WeChat needs it)
    reason: str = ""
    provider_txn_id: str = ""  # the payment's provider transaction id (UnionPay origQryId)
    provider_ref: str = ""  # the order's PayAction.provider_ref


@dataclass(frozen=True, slots=True)
class RefundState:
    refund_no: str
    status: RefundStatus
    amount: Money
    provider_refund_id: str = ""
    provider_ref: str = ""  # what query_refund needs later, like PayAction.provider_ref


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One line of a provider's daily statement, normalised.

    `amount` is positive for payments and negative for refunds; `fee` is the provider's service fee
    for the line (positive = charged to us). `line_no` is 1-based within the file, for error reports.
    """

    provider: str
    kind: Literal["payment", "refund"]
    out_trade_no: str
    provider_txn_id: str
    amount: Money
    fee: Money
    occurred_at: datetime
    refund_no: str = ""
    status: str = ""
    line_no: int = 0


@runtime_checkable
class InAppPayments(Protocol):
    """What a rail adds when it can take payment inside its own app's browser (WeChat: JSAPI).

    Such a payment needs the payer's id at the provider, which the app gives only through its web
    OAuth: send the browser to `payer_auth_url`, and on its return trade the one-time code for the id.
    """

    def in_app_ready(self) -> bool:
        """Whether the settings this needs (WeChat: official account appid and AppSecret) are there."""
        ...

    def payer_auth_url(self, redirect_uri: str, state: str) -> str: ...

    async def payer_id_for_code(self, code: str) -> str:
        """Raises ProviderError when the provider refuses the code (unknown, used, expired)."""
        ...

    def bridge_params(self, provider_ref: str) -> Mapping[str, str] | None:
        """Freshly signed bridge parameters for a "bridge" order, or None when `provider_ref` is not one."""
        ...


@runtime_checkable
class Provider(Protocol):
    """One payment rail. Implementations live in providers/<rail>/client.py."""

    name: str  # "alipay" | "wechatpay" | "bankcard"
    merchant_id: str  # the id the rail's notifications must carry (app_id / mchid / merId)

    async def create_order(self, order: OrderRequest) -> PayAction: ...

    def parse_notification(self, headers: Mapping[str, str], body: bytes, now: datetime) -> NotificationEvent:
        """Verify and parse a raw notification. Raises NotificationRejected; nothing else escapes."""
        ...

    def check_integrity(self, event: NotificationEvent, expected: ExpectedOrder) -> None:
        """Raise NotificationRejected (AMOUNT_MISMATCH, CURRENCY_MISMATCH, UNKNOWN_ORDER) on mismatch."""
        ...

    def ack_success(self) -> Ack: ...

    def ack_failure(self, reason: str) -> Ack: ...

    async def query_order(self, out_trade_no: str, provider_ref: str = "") -> OrderState: ...

    async def close_order(self, out_trade_no: str, provider_ref: str = "") -> None: ...

    async def refund(self, request: RefundRequest) -> RefundState:
        """Idempotent by `request.refund_no`: repeating it never moves money twice."""
        ...

    async def query_refund(
        self, out_trade_no: str, refund_no: str, provider_ref: str = ""
    ) -> RefundState: ...

    async def fetch_statement(self, day: date) -> bytes:
        """The raw statement file for `day` (Beijing time), as the provider delivers it."""
        ...

    def parse_statement(self, data: bytes) -> list[StatementLine]:
        """Parse a raw statement file. Raises StatementError; nothing else escapes."""
        ...
