"""The WeChat Pay API v3 rail: signed JSON calls to the gateway, verified answers (providers.md 2)."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from payments.domain.money import Money
from providers.base import (
    Ack,
    ExpectedOrder,
    NotificationEvent,
    OrderRequest,
    OrderState,
    PayAction,
    ProviderError,
    RefundRequest,
    RefundState,
    Scene,
    StatementLine,
    TxnStatus,
)
from providers.wechatpay import crypto, jsapi, oauth, statement, transform
from providers.wechatpay import wire as w
from providers.wechatpay.config import WechatPayConfig
from providers.wechatpay.notification import parse_notification
from providers.wechatpay.transform import WireValueError

USER_AGENT = "payrecon-wechatpay/1"
# WeChat caps description at 127 characters; the subject is display text, so it is cut, not refused.
DESCRIPTION_MAX = 127
REASON_MAX = 80  # the refund API's limit for `reason`
_NOT_FOUND_CODES = frozenset({"ORDER_NOT_EXIST", "ORDERNOTEXIST"})
_RETRYABLE_CODES = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED", "BANK_ERROR"})


class WechatPayProvider:
    name = "wechatpay"

    def __init__(self, config: WechatPayConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.merchant_id = config.mchid
        self._http = http
        self._merchant_key = crypto.load_private_key(config.merchant_private_key_pem)
        self._platform_keys = crypto.load_platform_keys(config.platform_public_keys)
        oauth.install_log_redaction()

    # -- orders -------------------------------------------------------------------------------

    async def create_order(self, order: OrderRequest) -> PayAction:
        body: w.OrderRequestBody = {
            "appid": self.config.appid,
            "mchid": self.config.mchid,
            "description": order.subject[:DESCRIPTION_MAX],
            "out_trade_no": order.out_trade_no,
            "time_expire": transform.rfc3339(order.expires_at),
            "notify_url": order.notify_url,
            "amount": {"total": order.amount.fen, "currency": order.amount.currency},
        }
        if order.scene is Scene.QR:
            answer = await self._call("POST", w.PATH_NATIVE, body)
            return PayAction(kind="qr", qr_payload=_required_text(answer, "code_url"))
        if order.scene is Scene.IN_APP:
            return await self._create_jsapi_order(body, order.payer_id)
        body["scene_info"] = {"payer_client_ip": order.client_ip, "h5_info": {"type": "Wap"}}
        answer = await self._call("POST", w.PATH_H5, body)
        h5_url = _required_text(answer, "h5_url")
        # WeChat sends the browser back to `redirect_url` (URL-encoded, appended by the merchant) when
        # the H5 flow ends; without it the payer is left on WeChat's page.
        separator = "&" if "?" in h5_url else "?"
        return PayAction(
            kind="redirect", url=f"{h5_url}{separator}redirect_url={quote(order.return_url, safe='')}"
        )

    async def _create_jsapi_order(self, base: w.OrderRequestBody, openid: str) -> PayAction:
        if not openid:
            raise ProviderError("PARAM_ERROR", "a JSAPI order needs the payer's openid")
        body: jsapi.JsapiOrderBody = {**base, "appid": self.config.jsapi_appid, "payer": {"openid": openid}}
        answer = await self._call("POST", jsapi.PATH_JSAPI, body)
        try:
            package = jsapi.package_for(_required_text(answer, "prepay_id"))
        except ValueError as exc:
            raise ProviderError("INVALID_RESPONSE", str(exc)) from None
        # The package is all the page needs later: the parameters are signed again for each view, so
        # nothing about the payer is kept.
        return PayAction(kind="bridge", fields=self._sign_bridge(package), provider_ref=package)

    # -- paying inside WeChat's browser (InAppPayments) -------------------------------------------

    def in_app_ready(self) -> bool:
        return self.config.in_app_ready

    def payer_auth_url(self, redirect_uri: str, state: str) -> str:
        return oauth.authorize_url(
            self.config.oauth_authorize_url, self.config.jsapi_appid, redirect_uri, state
        )

    async def payer_id_for_code(self, code: str) -> str:
        """Trade a one-time OAuth code for the payer's openid under our official account."""
        if not self.config.in_app_ready:
            raise ProviderError("OAUTH_NOT_CONFIGURED", "no official account AppSecret is configured")
        if not oauth.CODE.fullmatch(code):
            raise ProviderError(f"OAUTH_{oauth.ERR_INVALID_CODE}", "invalid code")
        params = oauth.token_params(self.config.jsapi_appid, self.config.official_account_secret, code)
        url = httpx.URL(self.config.oauth_api_url + oauth.PATH_ACCESS_TOKEN, params=params)
        try:
            response = await self._http.get(
                url, headers={"Accept": "application/json", "User-Agent": USER_AGENT}
            )
            raw = await response.aread()
        except httpx.HTTPError as exc:
            raise ProviderError("NETWORK_ERROR", type(exc).__name__, retryable=True) from None
        if not response.is_success:
            raise ProviderError(f"HTTP_{response.status_code}", "", retryable=response.status_code >= 500)
        try:
            return oauth.openid_from_answer(raw)
        except oauth.OAuthRefused as exc:
            # errmsg is WeChat's fixed wording (plus a request id), never the code or the secret.
            raise ProviderError(
                f"OAUTH_{exc.errcode}", exc.errmsg, retryable=exc.errcode in oauth.RETRYABLE
            ) from None

    def bridge_params(self, provider_ref: str) -> dict[str, str] | None:
        if jsapi.prepay_id_of(provider_ref) is None:
            return None
        return self._sign_bridge(provider_ref)

    def _sign_bridge(self, package: str) -> dict[str, str]:
        stamp = str(int(time.time()))
        return jsapi.bridge_params(
            self._merchant_key, self.config.jsapi_appid, package, stamp, crypto.new_nonce()
        )

    async def query_order(self, out_trade_no: str, provider_ref: str = "") -> OrderState:
        path = w.PATH_QUERY_BY_OUT_TRADE_NO.format(out_trade_no=quote(out_trade_no, safe=""))
        try:
            answer = await self._call("GET", path, params={"mchid": self.config.mchid})
        except ProviderError as exc:
            if exc.code in _NOT_FOUND_CODES:
                return OrderState(out_trade_no=out_trade_no, status=TxnStatus.NOT_FOUND)
            raise
        try:
            if transform.text(answer, "out_trade_no") != out_trade_no:
                raise WireValueError("the answer is about another order")
            status = transform.trade_status(answer.get("trade_state"))
            amount = answer.get("amount")
            total = None
            if isinstance(amount, dict) and "total" in amount:
                total = transform.money(amount["total"], amount.get("currency"), "amount.total")
            txn_id = answer.get("transaction_id")
            return OrderState(
                out_trade_no=out_trade_no,
                status=status,
                provider_txn_id=txn_id if isinstance(txn_id, str) else "",
                amount=total,
                paid_at=transform.parse_rfc3339(answer.get("success_time")),
            )
        except ValueError as exc:
            raise ProviderError("INVALID_RESPONSE", str(exc)) from None

    async def close_order(self, out_trade_no: str, provider_ref: str = "") -> None:
        path = w.PATH_CLOSE.format(out_trade_no=quote(out_trade_no, safe=""))
        close: w.CloseBody = {"mchid": self.config.mchid}
        await self._call("POST", path, close)

    # -- refunds ------------------------------------------------------------------------------

    async def refund(self, request: RefundRequest) -> RefundState:
        body: w.RefundRequestBody = {
            "out_trade_no": request.out_trade_no,
            "out_refund_no": request.refund_no,
            "amount": {
                "refund": request.amount.fen,
                "total": request.order_total.fen,
                "currency": request.amount.currency,
            },
        }
        if request.reason:
            body["reason"] = request.reason[:REASON_MAX]
        if self.config.refund_notify_url:
            body["notify_url"] = self.config.refund_notify_url
        answer = await self._call("POST", w.PATH_REFUNDS, body)
        return _refund_state(answer, request.refund_no)

    async def query_refund(self, out_trade_no: str, refund_no: str, provider_ref: str = "") -> RefundState:
        path = w.PATH_REFUND.format(out_refund_no=quote(refund_no, safe=""))
        answer = await self._call("GET", path)
        state = _refund_state(answer, refund_no)
        if answer.get("out_trade_no") != out_trade_no:
            raise ProviderError("INVALID_RESPONSE", f"refund {refund_no} belongs to another order")
        return state

    # -- notifications ------------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes, now: datetime) -> NotificationEvent:
        return parse_notification(self.config, self._platform_keys, headers, body, now)

    def check_integrity(self, event: NotificationEvent, expected: ExpectedOrder) -> None:
        transform.check_integrity(event, expected)

    def ack_success(self) -> Ack:
        # WeChat takes 200 or 204 as received and needs no body; 204 says so without one, so there
        # is no body for anyone to misread.
        return Ack(status_code=204)

    def ack_failure(self, reason: str) -> Ack:
        # WeChat retries only on a 4xx/5xx status: a 200 carrying {"code":"FAIL"} counts as received
        # and the notification is never sent again (providers.md 2.4, pitfall 14). 500 says "try
        # later", which is what a notification we could not take yet needs.
        body = json.dumps({"code": "FAIL", "message": reason[:200] or "失败"}, ensure_ascii=False)
        return Ack(status_code=500, body=body.encode(), content_type="application/json; charset=utf-8")

    # -- statements ---------------------------------------------------------------------------

    async def fetch_statement(self, day: date) -> bytes:
        params = {"bill_date": day.isoformat(), "bill_type": "ALL"}
        answer = await self._call("GET", w.PATH_TRADEBILL, params=params)
        try:
            hash_type = transform.text(answer, "hash_type")
            hash_value = transform.text(answer, "hash_value")
            download_url = transform.text(answer, "download_url")
        except ValueError as exc:
            raise ProviderError("INVALID_RESPONSE", str(exc)) from None
        if hash_type != "SHA1":
            raise ProviderError("INVALID_RESPONSE", f"unsupported bill hash_type {hash_type!r}")
        self._check_download_url(download_url)
        # The file itself is not signed (providers.md 2.7); its SHA1 from the signed answer vouches for it.
        data = await self._send("GET", download_url, b"", verify=False)
        if data[:2] == b"\x1f\x8b":  # asked for plain, but tar_type=GZIP bills arrive gzipped
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise ProviderError("INVALID_RESPONSE", f"bad gzip bill: {exc}", retryable=True) from None
        digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        if not hmac.compare_digest(digest, hash_value.lower()):
            raise ProviderError("BILL_HASH_MISMATCH", f"SHA1 {digest} != {hash_value}", retryable=True)
        return data

    def parse_statement(self, data: bytes) -> list[StatementLine]:
        return statement.parse_statement(data)

    def _check_download_url(self, url: str) -> None:
        # The download is signed with our Authorization, so it must only ever go to WeChat itself.
        target, gateway = urlsplit(url), urlsplit(self.config.gateway_url)
        same_origin = (target.scheme, target.netloc) == (gateway.scheme, gateway.netloc)
        wechat_host = target.scheme == "https" and (target.hostname or "").endswith(".mch.weixin.qq.com")
        if not (same_origin or (self.config.mode == "live" and wechat_host)):
            raise ProviderError("INVALID_RESPONSE", f"bill download_url is not on the gateway: {url}")

    # -- HTTP ---------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        url = str(httpx.URL(self.config.gateway_url + path, params=params))
        # Serialised once: the bytes signed are the bytes sent.
        content = (
            b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        )
        raw = await self._send(method, url, content, verify=True)
        if not raw:
            return {}
        try:
            answer = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise ProviderError("INVALID_RESPONSE", "answer is not JSON") from None
        if not isinstance(answer, dict):
            raise ProviderError("INVALID_RESPONSE", "answer is not a JSON object")
        return answer

    async def _send(self, method: str, url: str, content: bytes, *, verify: bool) -> bytes:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if method != "GET":
            headers["Content-Type"] = "application/json"
        request = httpx.Request(method, url, headers=headers, content=content)
        timestamp, nonce = str(int(time.time())), crypto.new_nonce()
        # The URL signed is the path and query exactly as they go on the wire.
        signed_url = request.url.raw_path.decode("ascii")
        message = crypto.request_message(method, signed_url, timestamp, nonce, content)
        request.headers["Authorization"] = crypto.authorization(
            self.config.mchid,
            self.config.merchant_serial_no,
            timestamp,
            nonce,
            crypto.sign(self._merchant_key, message),
        )
        try:
            response = await self._http.send(request)
            raw = await response.aread()
        except httpx.HTTPError as exc:
            raise ProviderError("NETWORK_ERROR", type(exc).__name__, retryable=True) from None
        if not response.is_success:
            raise _error(response.status_code, raw)
        if verify:
            try:
                crypto.check_signed(
                    response.headers,
                    raw,
                    self._platform_keys,
                    time.time(),
                    self.config.notify_max_skew_seconds,
                )
            except crypto.SignatureCheckFailed as exc:
                # A 2xx without a valid WeChat signature is treated as forged (providers.md 2.3).
                raise ProviderError("INVALID_SIGNATURE", exc.detail) from None
        return raw


def _error(status: int, raw: bytes) -> ProviderError:
    code, message = f"HTTP_{status}", ""
    try:
        doc = json.loads(raw.decode("utf-8"))
        if isinstance(doc, dict):
            code = str(doc.get("code") or code)
            message = str(doc.get("message") or "")
    except ValueError:
        pass
    retryable = status >= 500 or status == 429 or code in _RETRYABLE_CODES
    return ProviderError(code, message, retryable=retryable)


def _required_text(answer: Mapping[str, Any], key: str) -> str:
    try:
        return transform.text(answer, key)
    except ValueError as exc:
        raise ProviderError("INVALID_RESPONSE", str(exc)) from None


def _refund_state(answer: Mapping[str, Any], refund_no: str) -> RefundState:
    try:
        if transform.text(answer, "out_refund_no") != refund_no:
            raise WireValueError("the answer is about another refund")
        amount = transform.obj(answer, "amount")
        return RefundState(
            refund_no=refund_no,
            status=transform.refund_status(answer.get("status")),
            amount=Money(transform.fen(amount.get("refund"), "amount.refund"), _currency(amount)),
            provider_refund_id=transform.text(answer, "refund_id"),
        )
    except ValueError as exc:
        raise ProviderError("INVALID_RESPONSE", str(exc)) from None


def _currency(amount: Mapping[str, Any]) -> str:
    currency = amount.get("currency", "CNY")
    return currency if isinstance(currency, str) else ""
