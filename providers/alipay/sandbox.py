"""Alipay's side of the rail, in memory: the gateway API, a cashier page, notifications and bills.

It checks the merchant's request signatures the way the open platform gateway does, signs every
synchronous response over the exact bytes it emits, and signs notifications with its own platform key.
The business rules of each gateway method live in sandbox_ledger.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from payments.domain.money import Money, format_yuan
from providers.alipay import crypto, sandbox_pages, transform, wire
from providers.alipay.config import AlipayConfig
from providers.alipay.sandbox_bill import build_bill_zip
from providers.alipay.sandbox_ledger import Ledger, Refused, SandboxError
from providers.alipay.sandbox_state import SandboxOrder, bill_rows, return_fields
from providers.base import BEIJING
from providers.simulator import (
    NotificationDelivery,
    NotificationSender,
    NotifyClientFactory,
    SandboxOptions,
    load_or_create_rsa_key,
    public_pem,
)

__all__ = ["AlipaySandbox", "SandboxError", "build_sandbox"]

log = logging.getLogger("payrecon.sandbox.alipay")

PREFIX = "/sandbox/alipay/"
SANDBOX_APP_ID = "2021000122600001"
SANDBOX_SELLER_ID = "2088000000000001"
MERCHANT_NAME = "payrecon 沙箱商户"

Outcome = Literal["pay", "fail", "other_amount", "twice", "no_notify"]

_CODE_MSG = {
    "10000": "Success",
    "20000": "Service Currently Unavailable",
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
}
_STATUS_TEXT = {
    wire.WAIT_BUYER_PAY: "等待付款 Waiting for payment",
    wire.TRADE_SUCCESS: "已付款 Paid",
    wire.TRADE_FINISHED: "交易完结 Finished",
    wire.TRADE_CLOSED: "已关闭 Closed",
}
_HTML = "text/html; charset=utf-8"


def _acknowledged(response: httpx.Response) -> bool:
    # Alipay reads the body only: exactly these seven bytes, nothing around them.
    return response.content == wire.ACK_BODY


class AlipaySandbox:
    name = "alipay"

    def __init__(
        self,
        options: SandboxOptions,
        *,
        platform_key: rsa.RSAPrivateKey,
        merchant_public_key: rsa.RSAPublicKey,
        notify_client_factory: NotifyClientFactory,
        app_id: str = SANDBOX_APP_ID,
        seller_id: str = SANDBOX_SELLER_ID,
    ) -> None:
        self.options = options
        self.app_id = app_id
        self.seller_id = seller_id
        self.base_url = options.public_base_url.rstrip("/") + PREFIX.rstrip("/")
        self.gateway_url = self.base_url + "/gateway.do"
        self.platform_public_pem = public_pem(platform_key)
        self.sender = NotificationSender(notify_client_factory, options.time_factor)
        # Tests move time (order expiry, bill days, link lifetime) by replacing this.
        self.clock: Callable[[], datetime] = lambda: datetime.now(BEIJING)
        self.ledger = Ledger(
            base_url=self.base_url,
            app_id=app_id,
            seller_id=seller_id,
            clock=lambda: self.clock(),
            notify=self._notify,
        )
        self._platform_key = platform_key
        self._merchant_key = merchant_public_key

    @property
    def orders(self) -> dict[str, SandboxOrder]:
        return self.ledger.orders

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self.handle)

    async def aclose(self) -> None:
        await self.sender.aclose()

    # ---- routing ------------------------------------------------------------------------------

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        rest = path[len(PREFIX) :] if path.startswith(PREFIX) else None
        head, _, tail = (rest or "").partition("/")
        try:
            if rest == "gateway.do" and request.method in ("GET", "POST"):
                return await self._gateway(request)
            if head == "qr" and tail and request.method == "GET":
                return self._cashier_page(tail)
            if head == "cashier" and tail and request.method == "POST":
                return await self._cashier_post(tail, request)
            if head == "bill" and tail and request.method == "GET":
                return self._bill_download(tail)
        except Exception:
            log.exception("alipay sandbox failed on %s %s", request.method, path)
            return httpx.Response(500, text="sandbox error")
        return httpx.Response(404, text=sandbox_pages.not_found(), headers={"Content-Type": _HTML})

    # ---- gateway ------------------------------------------------------------------------------

    async def _gateway(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        try:
            params = dict(parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True))
            if request.method == "POST" and body:
                params.update(parse_qsl(body.decode(wire.CHARSET), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            params = {}
        method = params.get("method", "")
        handlers: dict[str, Callable[[dict[str, Any], dict[str, str]], dict[str, Any]]] = {
            wire.PRECREATE: self.ledger.precreate,
            wire.TRADE_QUERY: self.ledger.query,
            wire.TRADE_CLOSE: self.ledger.close,
            wire.TRADE_REFUND: self.ledger.refund,
            wire.REFUND_QUERY: self.ledger.refund_query,
            wire.BILL_URL_QUERY: self.ledger.bill_url,
        }
        key = wire.response_key(method) if method in handlers else wire.ERROR_RESPONSE_KEY
        try:
            biz = self._checked(params, known=method in handlers or method == wire.WAP_PAY)
            if method == wire.WAP_PAY:
                order = self.ledger.register(wire.WAP_PAY, biz, params)
                return self._cashier_page(order.code)
            payload = handlers[method](biz, params)
        except Refused as refused:
            if method == wire.WAP_PAY:
                page = sandbox_pages.error(refused.code, refused.sub_code, refused.sub_msg)
                return httpx.Response(200, text=page, headers={"Content-Type": _HTML})
            payload = {
                "code": refused.code,
                "msg": _CODE_MSG[refused.code],
                "sub_code": refused.sub_code,
                "sub_msg": refused.sub_msg,
            }
            return self._signed_json(key, payload)
        return self._signed_json(key, {"code": "10000", "msg": "Success", **payload})

    def _signed_json(self, key: str, payload: dict[str, Any]) -> httpx.Response:
        # The signature covers exactly the characters emitted for the payload object.
        inner = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        sign = crypto.sign(self._platform_key, inner)
        text = "{" + json.dumps(key) + ":" + inner + ',"sign":' + json.dumps(sign) + "}"
        return httpx.Response(
            200, content=text.encode(wire.CHARSET), headers={"Content-Type": "application/json;charset=utf-8"}
        )

    def _checked(self, params: dict[str, str], *, known: bool) -> dict[str, Any]:
        for name in ("app_id", "method", "sign_type", "sign", "timestamp", "version"):
            if not params.get(name):
                raise Refused("40001", f"isv.missing-{name.replace('_', '-')}", f"缺少{name}参数")
        if params["app_id"] != self.app_id:
            raise Refused("40002", "isv.invalid-app-id", "无效的AppID参数")
        if not known:
            raise Refused("40002", "isv.invalid-method", "不存在的方法名")
        if params["sign_type"] != wire.SIGN_TYPE:
            raise Refused("40002", "isv.invalid-signature-type", "无效的签名类型")
        if params.get("charset", wire.CHARSET).lower() != wire.CHARSET:
            raise Refused("40002", "isv.invalid-charset", "字符集错误")
        try:
            transform.parse_beijing(params["timestamp"])
        except ValueError:
            raise Refused("40002", "isv.invalid-timestamp", "非法的时间戳参数") from None
        if params["version"] != wire.VERSION:
            raise Refused("40002", "isv.invalid-version", "版本号错误")
        if not crypto.verify(self._merchant_key, crypto.request_sign_content(params), params["sign"]):
            raise Refused(
                "40002", "isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配"
            )
        try:
            biz = json.loads(params.get("biz_content", "{}"))
        except json.JSONDecodeError:
            biz = None
        if not isinstance(biz, dict) or not all(isinstance(v, str) for v in biz.values()):
            raise Refused("40002", "isv.invalid-parameter", "biz_content格式错误")
        return biz

    def _bill_download(self, token: str) -> httpx.Response:
        entry = self.ledger.bills.get(token)
        if entry is None or self.clock() > entry[1]:
            return httpx.Response(404, text="bill link unknown or expired")
        return httpx.Response(
            200, content=self.statement(entry[0]), headers={"Content-Type": "application/octet-stream"}
        )

    def statement(self, day: date) -> bytes:
        """The day's bill zip (Beijing day): every paid trade, notified or not, and every refund."""
        return build_bill_zip(
            self.seller_id, day, bill_rows(list(self.ledger.orders.values()), day), self.clock()
        )

    # ---- cashier ------------------------------------------------------------------------------

    def _cashier_page(self, code: str, message: str = "", status_code: int = 200) -> httpx.Response:
        order = self.ledger.orders.get(self.ledger.codes.get(code, ""))
        if order is None:
            return httpx.Response(404, text=sandbox_pages.not_found(), headers={"Content-Type": _HTML})
        status = order.status(self.clock())
        trade = order.primary
        view = sandbox_pages.CashierView(
            merchant=MERCHANT_NAME,
            app_id=self.app_id,
            subject=order.subject,
            out_trade_no=order.out_trade_no,
            amount_yuan=format_yuan(trade.amount_fen if trade and trade.paid_at else order.total_fen),
            status=status,
            status_text=_STATUS_TEXT.get(status, status),
            action_url=f"{self.base_url}/cashier/{code}",
            payable=status == wire.WAIT_BUYER_PAY,
            message=message,
        )
        return httpx.Response(status_code, text=sandbox_pages.cashier(view), headers={"Content-Type": _HTML})

    async def _cashier_post(self, code: str, request: httpx.Request) -> httpx.Response:
        order = self.ledger.orders.get(self.ledger.codes.get(code, ""))
        if order is None:
            return httpx.Response(404, text=sandbox_pages.not_found(), headers={"Content-Type": _HTML})
        try:
            form = dict(parse_qsl((await request.aread()).decode("utf-8"), keep_blank_values=True))
            outcome = form.get("outcome", "")
            amount = None
            if outcome == "other_amount":
                amount = transform.parse_amount(form.get("amount", "").strip(), "amount")
            trades = self.ledger.settle(order.out_trade_no, outcome, amount)
        except (ValueError, UnicodeDecodeError) as exc:
            return self._cashier_page(code, message=f"操作未完成 Not done: {exc}", status_code=400)
        location = f"{self.base_url}/qr/{code}"
        if order.method == wire.WAP_PAY and order.return_url:
            location = order.return_url
            paid = [t for t in trades if t.paid_at is not None]
            if paid:
                fields = return_fields(
                    order, paid[0], app_id=self.app_id, seller_id=self.seller_id, now=self.clock()
                )
                fields["sign"] = crypto.sign(self._platform_key, crypto.notification_sign_content(fields))
                location += ("&" if "?" in location else "?") + urlencode(fields)
        return httpx.Response(303, headers={"Location": location})

    # ---- outcomes -----------------------------------------------------------------------------

    async def pay(
        self, out_trade_no: str, outcome: Outcome = "pay", amount: Money | None = None
    ) -> list[str]:
        """What a tester's button does, for tests: returns the trade numbers created.

        Outcomes: pay, fail (trade closed), other_amount (needs `amount`), twice (two trades, two
        notifications), no_notify (paid, never notified). `amount` also overrides what "pay" pays.
        """
        return [t.trade_no for t in self.ledger.settle(out_trade_no, outcome, amount)]

    # ---- notifications ------------------------------------------------------------------------

    def _notify(self, order: SandboxOrder, fields: dict[str, str]) -> None:
        fields = {**fields, "sign": crypto.sign(self._platform_key, crypto.notification_sign_content(fields))}
        # One body for every attempt: notify_id and the signature stay the same across retries.
        body = urlencode(fields).encode("ascii")
        url = order.notify_url

        def build() -> httpx.Request:
            return httpx.Request(
                "POST",
                url,
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            )

        self.sender.send(
            NotificationDelivery(build=build, accepted=_acknowledged, schedule=wire.RETRY_SCHEDULE)
        )


def build_sandbox(
    options: SandboxOptions, notify_client_factory: NotifyClientFactory
) -> tuple[AlipayConfig, AlipaySandbox]:
    """The sandbox and a merchant config pointing at it; keys are made once under data_dir/alipay/."""
    folder = options.data_dir / "alipay"
    platform_key = load_or_create_rsa_key(folder / "alipay_platform_key.pem")
    merchant_key = load_or_create_rsa_key(folder / "merchant_app_key.pem")
    sandbox = AlipaySandbox(
        options,
        platform_key=platform_key,
        merchant_public_key=merchant_key.public_key(),
        notify_client_factory=notify_client_factory,
    )
    config = AlipayConfig(
        mode="sandbox",
        gateway_url=sandbox.gateway_url,
        app_id=sandbox.app_id,
        seller_id=sandbox.seller_id,
        app_private_key_pem=merchant_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        alipay_public_key_pem=sandbox.platform_public_pem,
    )
    return config, sandbox
