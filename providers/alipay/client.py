"""The Alipay rail: open platform gateway, RSA2, public-key mode."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx

from providers.alipay import crypto, statement, transform, wire
from providers.alipay.config import AlipayConfig
from providers.base import (
    BEIJING,
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

_FORM_TYPE = "application/x-www-form-urlencoded;charset=utf-8"
# Notification charsets Alipay may use; anything else is not a body Alipay sent.
_CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030"}
_MAX_FIELDS = 200


def _beijing_now() -> datetime:
    return datetime.now(BEIJING)


def _is(sub_code: str, name: str) -> bool:
    # The gateway has been seen to prefix business sub_codes (e.g. "aop.ACQ.…"); match on the tail.
    return sub_code == name or sub_code.endswith("." + name)


class AlipayProvider:
    name = "alipay"
    # A refund notification's refund_fee is the trade's refunded total so far, not this refund's amount.
    refund_amount_cumulative = True

    def __init__(
        self,
        config: AlipayConfig,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], datetime] = _beijing_now,
    ) -> None:
        self.config = config
        self.merchant_id = config.app_id
        self._http = http
        self._clock = clock
        self._private_key = crypto.load_private_key(config.app_private_key_pem)
        self._alipay_keys = [crypto.load_public_key(config.alipay_public_key_pem)]
        if config.previous_alipay_public_key_pem:
            self._alipay_keys.append(crypto.load_public_key(config.previous_alipay_public_key_pem))

    def _verified(self, content: str, signature: str, charset: str = "utf-8") -> bool:
        return any(crypto.verify(key, content, signature, charset) for key in self._alipay_keys)

    # ---- requests ---------------------------------------------------------------------------

    def _signed_params(self, method: str, biz: Mapping[str, str], **extra: str) -> dict[str, str]:
        params: dict[str, str] = {
            "app_id": self.config.app_id,
            "method": method,
            "format": "JSON",
            "charset": wire.CHARSET,
            "sign_type": wire.SIGN_TYPE,
            "timestamp": transform.beijing_text(self._clock()),
            "version": wire.VERSION,
            # The exact text sent is the text signed, so it is serialised once, here.
            "biz_content": json.dumps(dict(biz), ensure_ascii=False, separators=(",", ":")),
        }
        params.update({k: v for k, v in extra.items() if v})
        params["sign"] = crypto.sign(self._private_key, crypto.request_sign_content(params))
        return params

    async def _call(self, method: str, biz: Mapping[str, str], **extra: str) -> dict[str, Any]:
        """POST a signed request; return the verified `<method>_response` object with code 10000.

        Anything else raises ProviderError: transport trouble, non-2xx, an unsigned or badly signed
        body, or a business error (`code` other than 10000, named by its sub_code).
        """
        params = self._signed_params(method, biz, **extra)
        try:
            response = await self._http.post(
                self.config.gateway_url,
                content=urlencode(params).encode("ascii"),
                headers={"Content-Type": _FORM_TYPE},
            )
        except httpx.HTTPError as exc:
            raise ProviderError("unreachable", type(exc).__name__, retryable=True) from exc
        if not response.is_success:
            raise ProviderError(f"http_{response.status_code}", method, retryable=response.status_code >= 500)
        return self._verified_payload(method, response.content)

    def _verified_payload(self, method: str, raw: bytes) -> dict[str, Any]:
        try:
            text = raw.decode(wire.CHARSET)
            spans = crypto.top_level_spans(text)
        except (UnicodeDecodeError, crypto.ResponseFormatError) as exc:
            raise ProviderError("malformed_response", f"{method}: {exc}") from exc
        key = wire.response_key(method)
        if key not in spans:
            key = wire.ERROR_RESPONSE_KEY
        if key not in spans:
            raise ProviderError("malformed_response", f"{method}: no {wire.response_key(method)}")
        start, end = spans[key]
        content = text[start:end]
        payload = json.loads(content)
        if not isinstance(payload, dict):
            raise ProviderError("malformed_response", f"{method}: {key} is not an object")
        code = str(payload.get("code", ""))
        sub_code = str(payload.get("sub_code", ""))
        signature = json.loads(text[slice(*spans["sign"])]) if "sign" in spans else None
        if signature is None:
            if code == wire.SUCCESS_CODE:
                raise ProviderError("missing_signature", f"{method}: unsigned success response")
            # An unsigned failure is still a failure; nothing in it is acted upon.
            raise _business_error(method, code, sub_code, payload)
        if not isinstance(signature, str) or not self._verified(content, signature):
            raise ProviderError("bad_signature", f"{method}: response signature does not verify")
        if code != wire.SUCCESS_CODE:
            raise _business_error(method, code, sub_code, payload)
        return payload

    # ---- orders -----------------------------------------------------------------------------

    async def create_order(self, order: OrderRequest) -> PayAction:
        if not OUT_TRADE_NO.fullmatch(order.out_trade_no):
            raise ValueError("out_trade_no must be 8-32 letters or digits")
        if not 0 < order.amount.fen <= transform.MAX_ORDER_FEN:
            raise ValueError("Alipay accepts 0.01 to 100000000.00 yuan")
        total = transform.yuan(order.amount)
        time_expire = transform.beijing_text(order.expires_at)
        if order.scene is Scene.QR:
            precreate: wire.PrecreateBiz = {
                "out_trade_no": order.out_trade_no,
                "total_amount": total,
                "subject": order.subject,
                "time_expire": time_expire,
            }
            payload = await self._call(wire.PRECREATE, precreate, notify_url=order.notify_url)
            qr_code = payload.get("qr_code")
            if not isinstance(qr_code, str) or not qr_code:
                raise ProviderError("malformed_response", "precreate answered without qr_code")
            return PayAction(kind="qr", qr_payload=qr_code)
        wap: wire.WapPayBiz = {
            "out_trade_no": order.out_trade_no,
            "total_amount": total,
            "subject": order.subject,
            "product_code": wire.WAP_PRODUCT_CODE,
            "time_expire": time_expire,
        }
        params = self._signed_params(
            wire.WAP_PAY, wap, notify_url=order.notify_url, return_url=order.return_url
        )
        # urlencode quotes with quote_plus, so a `+` in the signature travels as %2B.
        return PayAction(kind="redirect", url=f"{self.config.gateway_url}?{urlencode(params)}")

    async def query_order(self, out_trade_no: str, provider_ref: str = "") -> OrderState:
        biz: wire.TradeRefBiz = {"out_trade_no": out_trade_no}
        try:
            payload = await self._call(wire.TRADE_QUERY, biz)
        except ProviderError as exc:
            if _is(exc.code, "ACQ.TRADE_NOT_EXIST"):
                return OrderState(out_trade_no=out_trade_no, status=TxnStatus.NOT_FOUND)
            raise
        try:
            status = transform.trade_status(_text(payload, "trade_status"))
            amount = transform.parse_amount(_text(payload, "total_amount"), "total_amount")
            paid_text = payload.get("send_pay_date")
            paid_at = (
                transform.parse_beijing(paid_text)
                if status is TxnStatus.SUCCESS and isinstance(paid_text, str) and paid_text
                else None
            )
        except ValueError as exc:
            raise ProviderError("malformed_response", f"trade.query: {exc}") from exc
        return OrderState(
            out_trade_no=out_trade_no,
            status=status,
            provider_txn_id=str(payload.get("trade_no", "")),
            amount=amount,
            paid_at=paid_at,
        )

    async def close_order(self, out_trade_no: str, provider_ref: str = "") -> None:
        biz: wire.TradeRefBiz = {"out_trade_no": out_trade_no}
        try:
            await self._call(wire.TRADE_CLOSE, biz)
        except ProviderError as exc:
            # Alipay only creates a precreate trade once its code is scanned, so an unscanned order has
            # nothing to close; the time_expire sent with every order ends the code's life anyway.
            if not _is(exc.code, "ACQ.TRADE_NOT_EXIST"):
                raise

    # ---- refunds ----------------------------------------------------------------------------

    async def refund(self, request: RefundRequest) -> RefundState:
        biz: wire.RefundBiz = {
            "out_trade_no": request.out_trade_no,
            "refund_amount": transform.yuan(request.amount),
            "out_request_no": request.refund_no,
        }
        if request.reason:
            biz["refund_reason"] = request.reason
        payload = await self._call(wire.TRADE_REFUND, biz)
        if payload.get("fund_change") == "Y":
            return RefundState(
                refund_no=request.refund_no,
                status=RefundStatus.SUCCESS,
                amount=request.amount,
                provider_refund_id=str(payload.get("trade_no", "")),
            )
        # fund_change N means no money moved in *this* call: either a repeat of a refund that already
        # went through, or one still in progress. Only the refund query tells which.
        try:
            return await self.query_refund(request.out_trade_no, request.refund_no)
        except ProviderError as exc:
            if exc.code != "REFUND_NOT_FOUND":
                raise
        # Accepted but not visible yet: report it in progress; query_refund later settles it.
        return RefundState(refund_no=request.refund_no, status=RefundStatus.PROCESSING, amount=request.amount)

    async def query_refund(self, out_trade_no: str, refund_no: str, provider_ref: str = "") -> RefundState:
        biz: wire.RefundQueryBiz = {"out_trade_no": out_trade_no, "out_request_no": refund_no}
        payload = await self._call(wire.REFUND_QUERY, biz)
        amount_text = payload.get("refund_amount")
        if not amount_text:
            # Alipay answers 10000 with no refund fields when the request number is unknown: that
            # refund did not happen, and repeating it with the same number is safe.
            raise ProviderError("REFUND_NOT_FOUND", f"{out_trade_no}/{refund_no}")
        try:
            amount = transform.parse_amount(amount_text, "refund_amount")
        except ValueError as exc:
            raise ProviderError("malformed_response", f"refund.query: {exc}") from exc
        refund_status = payload.get("refund_status") or wire.REFUND_SUCCESS
        return RefundState(
            refund_no=refund_no,
            status=RefundStatus.SUCCESS if refund_status == wire.REFUND_SUCCESS else RefundStatus.PROCESSING,
            amount=amount,
            provider_refund_id=str(payload.get("trade_no", "")),
        )

    # ---- notifications ----------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes, now: datetime) -> NotificationEvent:
        # Alipay retries for about 25 hours with the same fields, so `now` has nothing to bound here.
        try:
            return self._parse_notification(body)
        except NotificationRejected:
            raise
        except Exception as exc:  # the contract: whatever the bytes, only NotificationRejected escapes
            raise NotificationRejected(RejectReason.MALFORMED, type(exc).__name__) from exc

    def _parse_notification(self, body: bytes) -> NotificationEvent:
        fields = decode_form(body)
        signature = fields.get("sign", "")
        if not signature:
            raise NotificationRejected(RejectReason.BAD_SIGNATURE, "unsigned")
        if fields.get("sign_type") != wire.SIGN_TYPE:
            raise NotificationRejected(RejectReason.BAD_SIGNATURE, "sign_type is not RSA2")
        charset = _CHARSETS[fields.get("charset", wire.CHARSET).lower()]
        content = crypto.notification_sign_content(fields)
        if not self._verified(content, signature, charset):
            raise NotificationRejected(RejectReason.BAD_SIGNATURE)
        if fields.get("app_id") != self.config.app_id:
            raise NotificationRejected(RejectReason.FOREIGN_MERCHANT, f"app_id {fields.get('app_id')!r}")
        if self.config.seller_id and fields.get("seller_id") != self.config.seller_id:
            raise NotificationRejected(
                RejectReason.FOREIGN_MERCHANT, f"seller_id {fields.get('seller_id')!r}"
            )
        return transform.notification_event(fields)

    def check_integrity(self, event: NotificationEvent, expected: ExpectedOrder) -> None:
        transform.check_integrity(event, expected)

    def ack_success(self) -> Ack:
        return Ack(200, wire.ACK_BODY)

    def ack_failure(self, reason: str) -> Ack:
        # Alipay looks only at the body: anything but exactly `success` is "not received" and the
        # notification comes again on its schedule. A 200 with "fail" says so plainly; the reason
        # stays in our logs, not in an answer to the outside.
        return Ack(200, b"fail")

    # ---- statements -------------------------------------------------------------------------

    async def fetch_statement(self, day: date) -> bytes:
        biz: wire.BillUrlBiz = {"bill_type": "trade", "bill_date": day.isoformat()}
        payload = await self._call(wire.BILL_URL_QUERY, biz)
        url = payload.get("bill_download_url")
        if not isinstance(url, str) or not url:
            raise ProviderError("malformed_response", "bill query answered without bill_download_url")
        try:
            # The link is unsigned and lives 30 seconds: fetch it at once, through the same client.
            response = await self._http.get(url)
        except httpx.HTTPError as exc:
            raise ProviderError(
                "unreachable", f"bill download: {type(exc).__name__}", retryable=True
            ) from exc
        if response.status_code != 200:
            raise ProviderError(f"http_{response.status_code}", "bill download", retryable=True)
        return response.content

    def parse_statement(self, data: bytes) -> list[StatementLine]:
        return statement.parse(data)


def decode_form(body: bytes) -> dict[str, str]:
    """Form-decode a notification body exactly once, keeping blanks and every byte of every value.

    The body's own `charset` field names its encoding, so a first look (latin-1 maps every byte, and
    the charset name is ASCII) finds it; the fields come from the single real decode after that.
    """
    try:
        probe = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=_MAX_FIELDS))
    except ValueError as exc:
        raise NotificationRejected(RejectReason.MALFORMED, "too many fields") from exc
    charset = _CHARSETS.get(probe.get("charset", wire.CHARSET).lower())
    if charset is None:
        raise NotificationRejected(RejectReason.MALFORMED, "unsupported charset")
    try:
        text = body.decode(charset)
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            encoding=charset,
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotificationRejected(RejectReason.MALFORMED, "not a form body") from exc
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise NotificationRejected(RejectReason.MALFORMED, "repeated field")
    return fields


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing {name}")
    return value


_RETRYABLE_CODES = {"20000"}  # "Service Currently Unavailable"


def _business_error(method: str, code: str, sub_code: str, payload: Mapping[str, Any]) -> ProviderError:
    retryable = code in _RETRYABLE_CODES or sub_code.endswith("SYSTEM_ERROR") or sub_code.startswith("isp.")
    detail = f"{method}: {code} {payload.get('msg', '')}; {payload.get('sub_msg', '')}".strip()
    return ProviderError(sub_code or code or "unknown_error", detail, retryable=retryable)
