"""The sandbox's gateway API: WeChat's endpoints, request-signature checks and signed answers.

Error codes and statuses follow WeChat's API v3 error tables as far as providers.md names them; the
rest (ORDER_NOT_EXIST, ORDERPAID, OUT_TRADE_NO_USED, NO_STATEMENT_EXIST...) are WeChat's documented
codes but were not checked against the live gateway.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from providers.wechatpay import crypto
from providers.wechatpay import wire as w
from providers.wechatpay.config import normalize_key_id
from providers.wechatpay.sandbox_bill import render_trade_bill
from providers.wechatpay.sandbox_store import (
    TRADE_TYPES,
    SandboxOrder,
    SandboxRefund,
    new_prepay_id,
    random_token,
    refund_id,
)

MAX_SKEW = 300
_OUT_NO = re.compile(r"[0-9A-Za-z_\-*|]{6,32}")
_QUERY = re.compile(r"/v3/pay/transactions/out-trade-no/([^/]+)")
_CLOSE = re.compile(r"/v3/pay/transactions/out-trade-no/([^/]+)/close")
_BY_ID = re.compile(r"/v3/pay/transactions/id/([0-9]+)")
_REFUND = re.compile(r"/v3/refund/domestic/refunds/([^/]+)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class SandboxError(ValueError):
    """An outcome the sandbox cannot apply (unknown order, already paid...)."""


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


class SandboxApi:
    def __init__(
        self,
        *,
        gateway_url: str,
        platform_key: rsa.RSAPrivateKey,
        platform_key_id: str,
        merchant_public_key: rsa.RSAPublicKey,
        merchant_serial_no: str,
        mchid: str,
        appid: str,
    ) -> None:
        self.gateway_url = gateway_url
        self.platform_key = platform_key
        self.platform_key_id = platform_key_id
        self.merchant_public_key = merchant_public_key
        self.merchant_serial_no = merchant_serial_no
        self.mchid = mchid
        self.appid = appid
        self.orders: dict[str, SandboxOrder] = {}
        self.tokens: dict[str, str] = {}
        self.refunds: dict[str, SandboxRefund] = {}
        self.bills: dict[str, bytes] = {}

    def refund_created(self, refund: SandboxRefund) -> None:  # the sandbox settles and notifies
        raise NotImplementedError

    def openid_issued(self, openid: str, appid: str) -> bool:  # the sandbox's OAuth knows
        raise NotImplementedError

    def cashier_page(self, token: str) -> str:
        return f"{self.gateway_url}/cashier/{token}"

    async def api(self, request: httpx.Request, sub: str) -> httpx.Response:
        try:
            self._authenticate(request)
            if sub == w.PATH_BILLDOWNLOAD and request.method == "GET":
                # The file is the one answer WeChat does not sign (providers.md 2.7).
                data = self.bills.get(request.url.params.get("token", ""))
                if data is None:
                    raise _Refused(404, "RESOURCE_NOT_EXISTS", "账单不存在或已过期")
                return httpx.Response(200, content=data, headers={"Content-Type": "application/octet-stream"})
            status, doc = self._route(request, sub)
        except _Refused as exc:
            status, doc = exc.status, {"code": exc.code, "message": exc.message}
        return self.signed(status, doc)

    def signed(self, status: int, doc: Mapping[str, Any] | None) -> httpx.Response:
        body = b"" if doc is None else json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        headers = crypto.signed_headers(self.platform_key, self.platform_key_id, body, str(int(time.time())))
        headers["Request-ID"] = random_token(24)
        if doc is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        return httpx.Response(status, content=body, headers=headers)

    def _authenticate(self, request: httpx.Request) -> None:
        auth = crypto.parse_authorization(request.headers.get("Authorization", ""))
        if auth is None:
            raise _Refused(
                401, "SIGN_ERROR", "Authorization 头缺失或格式错误 missing or malformed Authorization"
            )
        if auth["mchid"] != self.mchid:
            raise _Refused(401, "SIGN_ERROR", "商户号与证书不匹配 unknown mchid")
        if normalize_key_id(auth["serial_no"]) != normalize_key_id(self.merchant_serial_no):
            raise _Refused(401, "SIGN_ERROR", "商户证书序列号有误 unknown serial_no")
        stamp = auth["timestamp"]
        if not stamp.isascii() or not stamp.isdigit() or abs(time.time() - int(stamp)) >= MAX_SKEW:
            raise _Refused(401, "SIGN_ERROR", "时间戳过期 timestamp expired")
        url = request.url.raw_path.decode("ascii")
        message = crypto.request_message(request.method, url, stamp, auth["nonce_str"], request.content)
        if not crypto.verify(self.merchant_public_key, message, auth["signature"]):
            raise _Refused(401, "SIGN_ERROR", "签名错误，请检查后再试 signature mismatch")

    def _route(self, request: httpx.Request, sub: str) -> tuple[int, Mapping[str, Any] | None]:
        method = request.method
        if method == "POST" and sub in TRADE_TYPES:
            return self._create_order(_json(request), TRADE_TYPES[sub])
        if method == "POST" and (match := _CLOSE.fullmatch(sub)):
            return self._close(match.group(1), _json(request))
        if method == "GET" and (match := _QUERY.fullmatch(sub)):
            self._check_mchid_param(request)
            return 200, self._order(match.group(1)).transaction()
        if method == "GET" and (match := _BY_ID.fullmatch(sub)):
            self._check_mchid_param(request)
            for order in self.orders.values():
                if any(p.transaction_id == match.group(1) for p in order.payments):
                    return 200, order.transaction()
            raise _Refused(404, "ORDER_NOT_EXIST", "订单不存在")
        if method == "POST" and sub == w.PATH_REFUNDS:
            return self._refund(_json(request))
        if method == "GET" and (match := _REFUND.fullmatch(sub)):
            refund = self.refunds.get(match.group(1))
            if refund is None:
                raise _Refused(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return 200, refund.document()
        if method == "GET" and sub == w.PATH_TRADEBILL:
            return self._trade_bill(request.url.params)
        raise _Refused(404, "NOT_FOUND", "请求的资源不存在")

    def _check_mchid_param(self, request: httpx.Request) -> None:
        if request.url.params.get("mchid") != self.mchid:
            raise _Refused(400, "PARAM_ERROR", "mchid 参数错误")

    def _order(self, out_trade_no: str) -> SandboxOrder:
        order = self.orders.get(out_trade_no)
        if order is None:
            raise _Refused(404, "ORDER_NOT_EXIST", "订单不存在")
        return order

    def _create_order(self, body: dict[str, Any], trade_type: str) -> tuple[int, Mapping[str, Any]]:
        if body.get("mchid") != self.mchid:
            raise _Refused(400, "MCH_NOT_EXISTS", "商户号不存在或与请求头不一致")
        if body.get("appid") != self.appid:
            raise _Refused(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        out_trade_no, description = body.get("out_trade_no"), body.get("description")
        if not isinstance(out_trade_no, str) or not _OUT_NO.fullmatch(out_trade_no):
            raise _Refused(400, "PARAM_ERROR", "out_trade_no 格式错误")
        if not isinstance(description, str) or not 0 < len(description) <= 127:
            raise _Refused(400, "PARAM_ERROR", "description 长度错误")
        notify_url = body.get("notify_url")
        if not isinstance(notify_url, str) or not re.fullmatch(r"https?://[^?#\s]+", notify_url):
            # WeChat demands https; the sandbox takes http too, since demos run on plain localhost.
            raise _Refused(400, "PARAM_ERROR", "notify_url 需为不带参数的完整URL")
        amount = body.get("amount")
        total = amount.get("total") if isinstance(amount, dict) else None
        currency = amount.get("currency", "CNY") if isinstance(amount, dict) else None
        if type(total) is not int or total <= 0 or currency != "CNY":
            raise _Refused(400, "PARAM_ERROR", "amount.total 需为正整数（分）, currency 为 CNY")
        if trade_type == "MWEB":
            scene = body.get("scene_info")
            h5_info = scene.get("h5_info") if isinstance(scene, dict) else None
            if (
                not isinstance(scene, dict)
                or not scene.get("payer_client_ip")
                or not isinstance(h5_info, dict)
            ):
                raise _Refused(400, "PARAM_ERROR", "H5 下单需要 scene_info.payer_client_ip 和 h5_info")
            if not h5_info.get("type"):
                raise _Refused(400, "PARAM_ERROR", "h5_info.type 缺失")
        payer_openid = ""
        if trade_type == "JSAPI":
            payer = body.get("payer")
            payer_openid = payer.get("openid", "") if isinstance(payer, dict) else ""
            if not isinstance(payer_openid, str) or not payer_openid:
                raise _Refused(400, "PARAM_ERROR", "JSAPI 下单需要 payer.openid")
            if not self.openid_issued(payer_openid, self.appid):
                # An openid from another official account, or made up.
                raise _Refused(400, "PARAM_ERROR", "appid和openid不匹配")
        time_expire = _parse_time(body.get("time_expire"))
        fingerprint = (trade_type, description, notify_url, total, body.get("time_expire"), payer_openid)
        existing = self.orders.get(out_trade_no)
        if existing is not None:
            if existing.trade_state in ("SUCCESS", "REFUND"):
                raise _Refused(403, "ORDERPAID", "该订单已支付")
            if existing.trade_state == "CLOSED":
                raise _Refused(400, "ORDER_CLOSED", "订单已关闭")
            if existing.fingerprint != fingerprint:
                raise _Refused(403, "OUT_TRADE_NO_USED", "商户订单号重复")
            return 200, self._pay_link(existing)
        token = random_token()
        now = datetime.now(UTC)
        order = SandboxOrder(
            out_trade_no=out_trade_no,
            appid=self.appid,
            mchid=self.mchid,
            description=description,
            notify_url=notify_url,
            total=total,
            currency="CNY",
            trade_type=trade_type,
            token=token,
            created_at=now,
            time_expire=time_expire,
            fingerprint=fingerprint,
            payer_openid=payer_openid,
            prepay_id=new_prepay_id(now) if trade_type == "JSAPI" else "",
        )
        self.orders[out_trade_no] = order
        self.tokens[token] = out_trade_no
        return 200, self._pay_link(order)

    def _pay_link(self, order: SandboxOrder) -> dict[str, str]:
        if order.trade_type == "NATIVE":
            return {"code_url": f"weixin://wxpay/bizpayurl?pr={order.token}"}
        if order.trade_type == "JSAPI":
            return {"prepay_id": order.prepay_id}
        return {"h5_url": self.cashier_page(order.token)}

    def _close(self, out_trade_no: str, body: dict[str, Any]) -> tuple[int, None]:
        if body.get("mchid") != self.mchid:
            raise _Refused(400, "PARAM_ERROR", "mchid 参数错误")
        order = self._order(out_trade_no)
        if order.trade_state in ("SUCCESS", "REFUND"):
            raise _Refused(400, "ORDERPAID", "订单已支付，不能关闭")
        order.trade_state = "CLOSED"
        return 204, None

    def _refund(self, body: dict[str, Any]) -> tuple[int, Mapping[str, Any]]:
        out_trade_no, out_refund_no = body.get("out_trade_no"), body.get("out_refund_no")
        amount = body.get("amount")
        if (
            not isinstance(out_refund_no, str)
            or not _OUT_NO.fullmatch(out_refund_no)
            or not isinstance(amount, dict)
        ):
            raise _Refused(400, "PARAM_ERROR", "out_refund_no 或 amount 参数错误")
        refund_fen, total = amount.get("refund"), amount.get("total")
        if type(refund_fen) is not int or type(total) is not int or refund_fen <= 0:
            raise _Refused(400, "PARAM_ERROR", "amount.refund 和 amount.total 需为正整数（分）")
        if amount.get("currency", "CNY") != "CNY":
            raise _Refused(400, "PARAM_ERROR", "currency 仅支持 CNY")
        existing = self.refunds.get(out_refund_no)
        if existing is not None:
            # Idempotent by out_refund_no: the same request answers the same refund, moving no money.
            if (existing.out_trade_no, existing.refund, existing.total) != (out_trade_no, refund_fen, total):
                raise _Refused(400, "INVALID_REQUEST", "退款单号已用于不同的退款请求")
            return 200, existing.document()
        if not isinstance(out_trade_no, str):
            raise _Refused(400, "PARAM_ERROR", "out_trade_no 缺失")
        order = self.orders.get(out_trade_no)
        if order is None:
            raise _Refused(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if not order.payments or order.trade_state not in ("SUCCESS", "REFUND"):
            raise _Refused(400, "INVALID_REQUEST", "订单未支付，不能退款")
        payment = order.payments[0]
        if total != payment.total:
            raise _Refused(400, "INVALID_REQUEST", "订单金额与原订单不一致")
        refunded = sum(r.refund for r in self.refunds.values() if r.transaction_id == payment.transaction_id
                       and r.status in ("PROCESSING", "SUCCESS"))  # fmt: skip
        if refunded + refund_fen > total:
            raise _Refused(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        now = datetime.now(UTC)
        notify_url = body.get("notify_url")
        refund = SandboxRefund(
            refund_id=refund_id(now),
            out_refund_no=out_refund_no,
            out_trade_no=out_trade_no,
            transaction_id=payment.transaction_id,
            refund=refund_fen,
            total=total,
            currency="CNY",
            reason=str(body.get("reason") or ""),
            # No notify_url: WeChat uses the address set on the merchant platform; here, the order's.
            notify_url=notify_url if isinstance(notify_url, str) and notify_url else order.notify_url,
            create_time=now,
        )
        self.refunds[out_refund_no] = refund
        answer = refund.document()
        self.refund_created(refund)
        return 200, answer

    def _trade_bill(self, params: httpx.QueryParams) -> tuple[int, Mapping[str, Any]]:
        bill_date, bill_type = params.get("bill_date", ""), params.get("bill_type", "ALL")
        if not _DATE.fullmatch(bill_date) or bill_type not in ("ALL", "SUCCESS", "REFUND"):
            raise _Refused(400, "PARAM_ERROR", "bill_date 或 bill_type 参数错误")
        try:
            day = date.fromisoformat(bill_date)
        except ValueError:
            raise _Refused(400, "PARAM_ERROR", "bill_date 参数错误") from None
        data = render_trade_bill(bill_type, day, self.orders.values(), self.refunds.values())
        if data is None:
            raise _Refused(400, "NO_STATEMENT_EXIST", "账单文件不存在")
        token = random_token(32)
        # The hash is over the plain file, also when it is delivered gzipped.
        digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        self.bills[token] = gzip.compress(data) if params.get("tar_type") == "GZIP" else data
        return 200, {
            "hash_type": "SHA1",
            "hash_value": digest,
            "download_url": f"{self.gateway_url}{w.PATH_BILLDOWNLOAD}?token={token}",
        }


def _json(request: httpx.Request) -> dict[str, Any]:
    try:
        doc = json.loads(request.content.decode("utf-8"))
    except ValueError:
        raise _Refused(400, "PARAM_ERROR", "请求体不是合法的JSON") from None
    if not isinstance(doc, dict):
        raise _Refused(400, "PARAM_ERROR", "请求体不是JSON对象")
    return doc


def _parse_time(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _Refused(400, "PARAM_ERROR", "time_expire 需为 rfc3339 格式")
    return moment
