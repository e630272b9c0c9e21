"""The bank card rail: UnionPay ACP 5.1.0 online gateway (front consume on the hosted card page).

The service never sees a card number: create_order returns a signed form that the borrower's browser
POSTs to UnionPay's frontTransReq.do, and the card is typed on UnionPay's page. Money is known only
from back notifications (backUrl), queries and the reconciliation file (providers.md 3.1, pitfall 22).

ACP identifies a transaction by merId + orderId + txnTime, and the query, refund and refund-query
requests need that txnTime (and refunds the consume's queryId), which the Provider protocol does
not carry. The client therefore remembers, in memory, the txnTime (and payTimeout) of every order
and refund it created; callers that persist them can pass `txn_time=` / `orig_qry_id=` instead.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

import httpx

from payments.domain.money import Money
from providers.bankcard import transform, wire
from providers.bankcard.config import BankCardConfig
from providers.bankcard.crypto import (
    BadSignature,
    UnionPayVerifier,
    UntrustedCertificate,
    cert_id,
    load_certificate,
    load_rsa_private_key,
    sign_fields,
)
from providers.bankcard.statement import parse_statement_zip, settle_date_text
from providers.base import (
    OUT_TRADE_NO,
    Ack,
    ExpectedOrder,
    NotificationEvent,
    NotificationRejected,
    OrderRequest,
    OrderState,
    PayAction,
    ProviderError,
    RefundRequest,
    RefundState,
    RefundStatus,
    RejectReason,
    Scene,
    StatementLine,
    TxnStatus,
)

log = logging.getLogger("payrecon.providers.bankcard")

_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded;charset=UTF-8"
# reqReserved and riskRateInfo values break the response grammar if they hold these (demo comments).
_UNSAFE_RESERVED = re.compile(r"[&={}\[\]\"'\x00-\x1f\x7f]")
_MEMO_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class _Memo:
    txn_time: str
    pay_timeout: datetime | None = None
    notify_url: str = ""


class BankCardProvider:
    name = "bankcard"

    def __init__(
        self,
        config: BankCardConfig,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.merchant_id = config.mer_id
        self._http = http
        self._clock = clock or (lambda: datetime.now(UTC))
        self._key = load_rsa_private_key(config.signing_key_pem)
        cert = load_certificate(config.signing_cert_pem)
        if cert.public_key() != self._key.public_key():
            raise ValueError("the merchant signing certificate does not match the signing key")
        self._cert_id = cert_id(cert)
        self._verifier = UnionPayVerifier(
            config.root_cert_pem, config.middle_cert_pem, config.expected_cn_org
        )
        self._memos: dict[str, _Memo] = {}

    # -- orders ---------------------------------------------------------------------------------

    async def create_order(self, order: OrderRequest) -> PayAction:
        if not OUT_TRADE_NO.fullmatch(order.out_trade_no):
            raise ValueError("out_trade_no must be 8-32 letters or digits")
        now = self._clock()
        if order.expires_at <= now:
            raise ValueError("expires_at is in the past")
        txn_time = transform.txn_time_text(now)
        fields: dict[str, str] = {
            **self._common(wire.TXN_CONSUME, "01", wire.BIZ_GATEWAY_PAY),
            "channelType": wire.CHANNEL_PC if order.scene is Scene.QR else wire.CHANNEL_MOBILE,
            "currencyCode": wire.CURRENCY_CNY,
            "orderId": order.out_trade_no,
            "txnTime": txn_time,
            "txnAmt": transform.txn_amt_text(order.amount),
            # After payTimeout UnionPay refuses the payment, and a query gives the final answer: it
            # stands in for the close operation ACP does not have.
            "payTimeout": transform.txn_time_text(order.expires_at),
            "frontUrl": order.return_url,
            "backUrl": order.notify_url,
        }
        subject = _UNSAFE_RESERVED.sub("", order.subject).strip()[:64]
        if subject:
            fields["riskRateInfo"] = "{commodityName=" + subject + "}"
        signed = sign_fields(fields, self._key, self._cert_id)
        self._remember(order.out_trade_no, _Memo(txn_time, order.expires_at, order.notify_url))
        provider_ref = f"{txn_time}:{fields['payTimeout']}"
        return PayAction(kind="form", url=self.config.front_url, fields=signed, provider_ref=provider_ref)

    async def query_order(
        self, out_trade_no: str, provider_ref: str = "", *, txn_time: datetime | None = None
    ) -> OrderState:
        memo = self._memo(out_trade_no, txn_time, provider_ref)
        answer = await self._query(out_trade_no, memo.txn_time)
        status = transform.queried_order_status(answer.get("respCode", ""), answer.get("origRespCode", ""))
        if status is None:
            code = answer.get("respCode", "")
            raise _error_from(answer, retryable=code in wire.PROCESSING_CODES or code == wire.RESP_BUSY)
        if status in (TxnStatus.PENDING, TxnStatus.NOT_FOUND) and memo.pay_timeout is not None:
            # An order we created that UnionPay does not know (34) is one whose card page has not
            # been submitted: pending until payTimeout. Past it, per the demo text, anything but
            # 00/A6 is final, so the order is closed unpaid.
            status = TxnStatus.CLOSED if self._clock() > memo.pay_timeout else TxnStatus.PENDING
        if status is not TxnStatus.SUCCESS:
            return OrderState(out_trade_no, status, answer.get("queryId", ""))
        return OrderState(
            out_trade_no,
            status,
            provider_txn_id=answer.get("queryId", ""),
            amount=_money(answer, "txnAmt"),
            # The answer's traceTime has no year and txnTime is the order's creation, not payment.
            paid_at=None,
        )

    async def close_order(self, out_trade_no: str, provider_ref: str = "") -> None:
        """ACP has no close for a front consume: an unpaid order dies at its payTimeout.

        What can be checked is that it is not paid, so that the caller does not mark a paid order
        closed: if its txnTime is known, query and raise ProviderError("ORDER_PAID") when paid.
        Otherwise there is nothing to ask UnionPay and payTimeout alone applies.
        """
        if out_trade_no not in self._memos and not provider_ref:
            return
        state = await self.query_order(out_trade_no, provider_ref)
        if state.status is TxnStatus.SUCCESS:
            raise ProviderError("ORDER_PAID", "the order is paid; refund it instead of closing it")

    # -- refunds --------------------------------------------------------------------------------

    async def refund(
        self,
        request: RefundRequest,
        *,
        orig_qry_id: str | None = None,
        order_txn_time: datetime | None = None,
    ) -> RefundState:
        """backTransReq.do txnType=04. Idempotent: a repeat reuses the refund's orderId and txnTime."""
        if not OUT_TRADE_NO.fullmatch(request.refund_no):
            raise ValueError("refund_no must be 8-32 letters or digits")
        orig_qry_id = orig_qry_id or request.provider_txn_id or None
        if orig_qry_id is None:
            state = await self.query_order(
                request.out_trade_no, request.provider_ref, txn_time=order_txn_time
            )
            if state.status is not TxnStatus.SUCCESS or not state.provider_txn_id:
                raise ProviderError("ORDER_NOT_PAID", "only a paid consume can be refunded")
            orig_qry_id = state.provider_txn_id
        order_memo = self._memos.get(request.out_trade_no)
        back_url = self.config.refund_notify_url or (order_memo.notify_url if order_memo else "")
        if not back_url:
            raise ProviderError("CONFIG", "refund_notify_url is not configured")
        previous = self._memos.get(request.refund_no)
        txn_time = previous.txn_time if previous else transform.txn_time_text(self._clock())
        self._remember(request.refund_no, _Memo(txn_time))
        fields: dict[str, str] = {
            **self._common(wire.TXN_REFUND, "00", wire.BIZ_GATEWAY_PAY),
            "channelType": wire.CHANNEL_PC,
            "orderId": request.refund_no,
            "origQryId": orig_qry_id,
            "txnTime": txn_time,
            "txnAmt": transform.txn_amt_text(request.amount),
            "backUrl": back_url,
            # Echoed in the refund's notification, query and file: how they find the order again.
            "reqReserved": request.out_trade_no,
        }
        answer = await self._call(self.config.back_url, fields)
        code = answer.get("respCode", "")
        if code == wire.RESP_SUCCESS or code in wire.PROCESSING_CODES:
            # For back transactions 00 means accepted; the outcome comes by notification or query.
            return RefundState(
                request.refund_no,
                RefundStatus.PROCESSING,
                request.amount,
                answer.get("queryId", ""),
                txn_time,
            )
        if code == wire.RESP_DUPLICATE:
            return await self.query_refund(request.out_trade_no, request.refund_no)
        raise _error_from(answer, retryable=code == wire.RESP_BUSY)

    async def query_refund(
        self, out_trade_no: str, refund_no: str, provider_ref: str = "", *, txn_time: datetime | None = None
    ) -> RefundState:
        memo = self._memo(refund_no, txn_time, provider_ref)
        answer = await self._query(refund_no, memo.txn_time)
        status = transform.queried_refund_status(answer.get("respCode", ""), answer.get("origRespCode", ""))
        if status is None:
            code = answer.get("respCode", "")
            raise _error_from(answer, retryable=code in wire.PROCESSING_CODES or code == wire.RESP_BUSY)
        return RefundState(
            refund_no, status, _money(answer, "txnAmt"), answer.get("queryId", ""), memo.txn_time
        )

    # -- notifications --------------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes, now: datetime) -> NotificationEvent:
        try:
            return self._parse_notification(body, now)
        except NotificationRejected:
            raise
        except Exception as exc:
            # The contract is that nothing else escapes; the type is enough to investigate.
            log.warning("bankcard notification parsing failed unexpectedly: %s", type(exc).__name__)
            raise NotificationRejected(RejectReason.MALFORMED, type(exc).__name__) from exc

    def _parse_notification(self, body: bytes, now: datetime) -> NotificationEvent:
        try:
            fields = wire.decode_form(body)
        except wire.WireFormatError as exc:
            raise NotificationRejected(RejectReason.MALFORMED, str(exc)) from exc
        if not fields.get("signature") or not fields.get("signPubKeyCert"):
            raise NotificationRejected(RejectReason.MALFORMED, "signature or signPubKeyCert missing")
        if fields.get("version") != wire.VERSION or fields.get("signMethod") != wire.SIGN_METHOD_CERT:
            raise NotificationRejected(
                RejectReason.UNKNOWN_KEY, "only version 5.1.0 certificate signatures are trusted"
            )
        try:
            self._verifier.verify(fields, now)
        except UntrustedCertificate as exc:
            raise NotificationRejected(RejectReason.UNKNOWN_KEY, str(exc)) from exc
        except BadSignature as exc:
            raise NotificationRejected(RejectReason.BAD_SIGNATURE, str(exc)) from exc
        if fields.get("merId") != self.config.mer_id:
            raise NotificationRejected(RejectReason.FOREIGN_MERCHANT, "merId is not ours")
        return transform.notification_event(fields)

    def check_integrity(self, event: NotificationEvent, expected: ExpectedOrder) -> None:
        transform.check_integrity(event, expected)

    def ack_success(self) -> Ack:
        # UNVERIFIED (providers.md 6): no primary text gives UnionPay's acknowledgement body; the
        # demos only say to answer HTTP 200. "ok" is harmless if the body is ignored.
        return Ack(200, b"ok")

    def ack_failure(self, reason: str) -> Ack:
        # Any non-200 is assumed to make UnionPay retry (UNVERIFIED, as above). The reason stays in
        # our logs; the provider learns nothing from it.
        return Ack(500, b"fail")

    # -- statements -----------------------------------------------------------------------------

    async def fetch_statement(self, day: date) -> bytes:
        """fileTransfer (txnType=76, fileType=00) for settleDate MMDD; returns the decoded zip.

        UnionPay's settlement day is its own clearing day; the sandbox uses the Beijing calendar day.
        """
        fields: dict[str, str] = {
            **self._common(wire.TXN_FILE_TRANSFER, "01", wire.BIZ_NONE),
            "fileType": wire.FILE_TYPE_RECONCILIATION,
            "settleDate": settle_date_text(day),
            "txnTime": transform.txn_time_text(self._clock()),
        }
        answer = await self._call(self.config.file_url, fields)
        code = answer.get("respCode", "")
        if code == wire.RESP_FILE_MISSING:
            raise ProviderError(code, "the reconciliation file does not exist (yet)", retryable=True)
        if code != wire.RESP_SUCCESS:
            raise _error_from(answer, retryable=code == wire.RESP_BUSY)
        try:
            return zlib.decompress(base64.b64decode(answer.get("fileContent", ""), validate=True))
        except (binascii.Error, ValueError, zlib.error) as exc:
            raise ProviderError("MALFORMED_FILE", "fileContent is not base64(zlib(...))") from exc

    def parse_statement(self, data: bytes) -> list[StatementLine]:
        return parse_statement_zip(data, self.config.mer_id)

    # -- plumbing -------------------------------------------------------------------------------

    def _common(self, txn_type: str, txn_sub_type: str, biz_type: str) -> dict[str, str]:
        return {
            "version": wire.VERSION,
            "encoding": wire.ENCODING,
            "signMethod": wire.SIGN_METHOD_CERT,
            "txnType": txn_type,
            "txnSubType": txn_sub_type,
            "bizType": biz_type,
            "accessType": wire.ACCESS_MERCHANT,
            "merId": self.config.mer_id,
        }

    def _remember(self, order_id: str, memo: _Memo) -> None:
        if len(self._memos) >= _MEMO_LIMIT and order_id not in self._memos:
            self._memos.pop(next(iter(self._memos)))  # oldest first: dicts keep insertion order
        self._memos[order_id] = memo

    def _memo(self, order_id: str, txn_time: datetime | None, provider_ref: str = "") -> _Memo:
        if provider_ref and txn_time is None:
            # "<txnTime>[:<payTimeout>]" as create_order / refund handed it out: survives restarts.
            sent, _, timeout = provider_ref.partition(":")
            try:
                return _Memo(
                    transform.txn_time_text(transform.parse_txn_time(sent)),
                    transform.parse_txn_time(timeout) if timeout else None,
                )
            except ValueError:
                raise ProviderError("BAD_PROVIDER_REF", "provider_ref is not one this rail issued") from None
        if txn_time is not None:
            known = self._memos.get(order_id)
            return _Memo(transform.txn_time_text(txn_time), known.pay_timeout if known else None)
        memo = self._memos.get(order_id)
        if memo is None:
            raise ProviderError("TXN_TIME_UNKNOWN", "ACP queries need the original txnTime; pass txn_time=")
        return memo

    async def _query(self, order_id: str, txn_time: str) -> dict[str, str]:
        fields: dict[str, str] = {
            **self._common(wire.TXN_QUERY, "00", wire.BIZ_NONE),
            "orderId": order_id,
            "txnTime": txn_time,
        }
        answer = await self._call(self.config.query_url, fields)
        if answer.get("orderId", order_id) != order_id:
            raise ProviderError("MISMATCHED_RESPONSE", "the answer is about another orderId")
        return answer

    async def _call(self, url: str, fields: Mapping[str, str]) -> dict[str, str]:
        """POST a signed request; return the verified answer fields."""
        signed = sign_fields(fields, self._key, self._cert_id)
        try:
            response = await self._http.post(
                url, content=wire.encode_form(signed), headers={"Content-Type": _FORM_CONTENT_TYPE}
            )
        except httpx.HTTPError as exc:
            raise ProviderError("UNREACHABLE", type(exc).__name__, retryable=True) from exc
        if response.status_code != 200:
            raise ProviderError(f"HTTP_{response.status_code}", "", retryable=response.status_code >= 500)
        try:
            answer = wire.parse_response_text(response.content.decode("utf-8"))
        except (UnicodeDecodeError, wire.WireFormatError) as exc:
            raise ProviderError("MALFORMED_RESPONSE", type(exc).__name__) from exc
        if "signature" not in answer and answer.get("respCode", wire.RESP_SUCCESS) != wire.RESP_SUCCESS:
            # Some rejections (e.g. of a malformed request) may come unsigned; trusting them means
            # only giving up, never recording success.
            raise _error_from(answer, retryable=False)
        try:
            self._verifier.verify(answer, self._clock())
        except (UntrustedCertificate, BadSignature) as exc:
            raise ProviderError("BAD_RESPONSE_SIGNATURE", str(exc)) from exc
        if answer.get("merId", self.config.mer_id) != self.config.mer_id:
            raise ProviderError("MISMATCHED_RESPONSE", "the answer names another merId")
        return answer


def _error_from(answer: Mapping[str, str], *, retryable: bool) -> ProviderError:
    code = answer.get("respCode", "") or "NO_RESP_CODE"
    return ProviderError(code, answer.get("respMsg", "")[:200], retryable=retryable)


def _money(answer: Mapping[str, str], name: str) -> Money:
    try:
        return Money(transform.fen_from_digits(answer.get(name, "")))
    except ValueError as exc:
        raise ProviderError("MALFORMED_RESPONSE", f"{name} is not an amount") from exc
