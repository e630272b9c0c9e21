"""The WeChat Pay API v3 provider side, for demos and tests (providers.md section 2).

It serves the gateway API and a cashier page under /sandbox/wechatpay/, verifies the merchant's
request signatures as WeChat does, signs every answer and notification with its own platform key
(public-key mode, Wechatpay-Serial = its PUB_KEY_ID), seals notification resources with the APIv3
key, retries notifications on WeChat's schedule, and writes trade bills in WeChat's format.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from providers.simulator import (
    NotificationDelivery,
    NotificationSender,
    NotifyClientFactory,
    SandboxOptions,
    load_or_create_rsa_key,
    public_pem,
)
from providers.wechatpay import crypto, jsapi, oauth
from providers.wechatpay import wire as w
from providers.wechatpay.config import PUB_KEY_ID_PREFIX, WechatPayConfig
from providers.wechatpay.sandbox_api import SandboxApi, SandboxError
from providers.wechatpay.sandbox_cashier import (
    BRIDGE_SCRIPT,
    render_bridge_refused,
    render_cashier,
    render_missing,
)
from providers.wechatpay.sandbox_oauth import SandboxOAuth
from providers.wechatpay.sandbox_store import (
    SandboxOrder,
    SandboxPayment,
    SandboxRefund,
    openid,
    payment_fields,
    transaction_id,
)
from providers.wechatpay.transform import rfc3339

PREFIX = "/sandbox/wechatpay"
KEY_DIR = "wechatpay"
PLATFORM_KEY_FILE = "platform_key.pem"
MERCHANT_KEY_FILE = "merchant_key.pem"
APIV3_KEY_FILE = "apiv3_key.txt"
OFFICIAL_ACCOUNT_SECRET_FILE = "official_account_secret.txt"  # noqa: S105  (a file name)
SANDBOX_MCHID = "1900000109"
SANDBOX_APPID = "wxd678efh567hg6787"
# providers.md 2.4: 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h after the first attempt.
RETRY_SCHEDULE: tuple[float, ...] = (
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
)  # fmt: skip
_CASHIER = re.compile(r"/cashier/([A-Za-z0-9]{8,64})")
_CODE_URL = re.compile(r"weixin://wxpay/bizpayurl\?pr=([A-Za-z0-9]{8,64})")
# WeChat's own hosts for these are open.weixin.qq.com and api.weixin.qq.com; here they share the prefix.
AUTHORIZE_PATH = "/connect/oauth2/authorize"
BRIDGE_SCRIPT_PATH = "/jsapi/bridge.js"
BRIDGE_SHEET_PATH = "/jsapi/pay"
PREPAY_TTL = timedelta(hours=2)  # WeChat: a prepay_id can open the pay sheet for two hours


class Outcome(StrEnum):
    PAY = "pay"
    FAIL = "fail"  # WeChat notifies successes only, so a failure is seen by querying
    DIFFERENT_AMOUNT = "different_amount"
    TWICE = "twice"
    NO_NOTIFY = "no_notify"


def cashier_url_for(code_url: str, public_base_url: str, return_url: str = "") -> str | None:
    """The sandbox cashier page behind a sandbox `code_url`, for the pay page to link a tester to.

    A real code_url opens only inside the WeChat app; in the demo nobody can scan it, so the pay page
    shows this link beside the QR. None when `code_url` is not one the sandbox issued.
    """
    match = _CODE_URL.fullmatch(code_url)
    if match is None:
        return None
    url = f"{public_base_url.rstrip('/')}{PREFIX}/cashier/{match.group(1)}"
    return f"{url}?redirect_url={quote(return_url, safe='')}" if return_url else url


def acknowledged(response: httpx.Response) -> bool:
    # Only the status counts: a 200 whose body says FAIL is still "received" (providers.md 2.4).
    return response.status_code in (200, 204)


class WechatPaySandbox(SandboxApi):
    name = "wechatpay"

    def __init__(
        self,
        *,
        options: SandboxOptions,
        notify_client_factory: NotifyClientFactory,
        platform_key: rsa.RSAPrivateKey,
        platform_key_id: str,
        merchant_public_key: rsa.RSAPublicKey,
        merchant_serial_no: str,
        mchid: str = SANDBOX_MCHID,
        appid: str = SANDBOX_APPID,
        apiv3_key: str,
        official_account_secret: str = "",
        auto_settle_refunds: bool = True,
    ) -> None:
        super().__init__(
            gateway_url=options.public_base_url.rstrip("/") + PREFIX,
            platform_key=platform_key,
            platform_key_id=platform_key_id,
            merchant_public_key=merchant_public_key,
            merchant_serial_no=merchant_serial_no,
            mchid=mchid,
            appid=appid,
        )
        self.options = options
        self.apiv3_key = apiv3_key
        self.auto_settle_refunds = auto_settle_refunds
        self.sender = NotificationSender(notify_client_factory, options.time_factor)
        self.oauth = SandboxOAuth(
            appid=appid,
            secret=official_account_secret or secrets.token_hex(16),
            allowed_host=urlsplit(options.public_base_url).netloc,
            cookie_path=PREFIX,
        )

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self.handle)

    async def aclose(self) -> None:
        await self.sender.aclose()

    def cashier_url_for(self, code_url: str, return_url: str = "") -> str | None:
        return cashier_url_for(code_url, self.options.public_base_url, return_url)

    @property
    def bridge_script_url(self) -> str:
        """The stand-in for WeChat's WeixinJSBridge, for the pay page to load in sandbox mode.

        A path, not a URL: the page and the sandbox share an origin, which the page's CSP allows.
        """
        return PREFIX + BRIDGE_SCRIPT_PATH

    def openid_issued(self, openid: str, appid: str) -> bool:
        return self.oauth.knows(openid, appid)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        path = request.url.path
        if not path.startswith(PREFIX + "/"):
            return httpx.Response(404, text="not a WeChat Pay sandbox path")
        sub = path[len(PREFIX) :]
        cashier = _CASHIER.fullmatch(sub)
        if cashier is not None:
            return await self._cashier(request, cashier.group(1))
        if sub == AUTHORIZE_PATH and request.method == "GET":
            return self.oauth.authorize(request)
        if sub == oauth.PATH_ACCESS_TOKEN and request.method == "GET":
            # Not an API v3 call: no merchant signature, the AppSecret authenticates it.
            return self.oauth.exchange(request)
        if sub == BRIDGE_SCRIPT_PATH and request.method == "GET":
            return httpx.Response(
                200,
                content=BRIDGE_SCRIPT.encode(),
                headers={"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-store"},
            )
        if sub == BRIDGE_SHEET_PATH and request.method == "POST":
            return self._bridge_sheet(request)
        return await self.api(request, sub)

    # -- outcomes, for the cashier and for tests ----------------------------------------------

    async def pay(
        self,
        out_trade_no: str,
        outcome: str = "pay",
        amount: int | None = None,
        *,
        at: datetime | None = None,
    ) -> list[str]:
        """Settle an unpaid order as a payer would; returns the transaction ids created.

        `amount` (fen) is the amount paid for outcome "different_amount". Raises SandboxError.
        """
        try:
            kind = Outcome(outcome)
        except ValueError:
            raise SandboxError(f"unknown outcome {outcome!r}") from None
        order = self.orders.get(out_trade_no)
        if order is None:
            raise SandboxError("订单不存在 no such order")
        moment = at or datetime.now(UTC)
        if order.trade_state != "NOTPAY":
            raise SandboxError(f"订单状态 {order.trade_state}, 不能支付 the order cannot be paid")
        if order.time_expire is not None and moment > order.time_expire:
            raise SandboxError("订单已过期 the order has expired")
        if kind is Outcome.FAIL:
            order.trade_state = "PAYERROR"
            return []
        paid = order.total
        if kind is Outcome.DIFFERENT_AMOUNT:
            if amount is None or type(amount) is not int or amount <= 0:
                raise SandboxError("请输入金额 a positive amount is needed")
            paid = amount
        order.trade_state = "SUCCESS"
        payer = order.payer_openid or openid()
        for _ in range(2 if kind is Outcome.TWICE else 1):
            payment = SandboxPayment(transaction_id(moment), paid, moment, payer)
            order.payments.append(payment)
            if kind is not Outcome.NO_NOTIFY:
                self._notify_payment(order, payment)
        return [p.transaction_id for p in order.payments]

    async def settle_refund(
        self, out_refund_no: str, status: str = "SUCCESS", *, at: datetime | None = None
    ) -> None:
        """Finish a PROCESSING refund as SUCCESS, ABNORMAL or CLOSED, and notify it."""
        refund = self.refunds.get(out_refund_no)
        if refund is None:
            raise SandboxError("退款单不存在 no such refund")
        if status not in ("SUCCESS", "ABNORMAL", "CLOSED"):
            raise SandboxError(f"unknown refund status {status!r}")
        if refund.status != "PROCESSING":
            raise SandboxError(f"退款状态 {refund.status}, already settled")
        self._settle(refund, status, at or datetime.now(UTC))

    def refund_created(self, refund: SandboxRefund) -> None:
        # WeChat answers PROCESSING and settles afterwards; the answer is already built when this runs.
        if self.auto_settle_refunds:
            self._settle(refund, "SUCCESS", datetime.now(UTC))

    def _settle(self, refund: SandboxRefund, status: str, moment: datetime) -> None:
        refund.status = status
        if status == "SUCCESS":
            refund.success_time = moment
            self.orders[refund.out_trade_no].trade_state = "REFUND"
        self._notify_refund(refund)

    # -- notifications ------------------------------------------------------------------------

    def _notify_payment(self, order: SandboxOrder, payment: SandboxPayment) -> NotificationDelivery:
        resource = order.transaction()
        resource.update(payment_fields(payment, order.currency))
        resource["trade_state"] = "SUCCESS"
        resource["trade_state_desc"] = "支付成功"
        return self.notify(order.notify_url, "TRANSACTION.SUCCESS", "支付成功", "transaction", resource)

    def _notify_refund(self, refund: SandboxRefund) -> NotificationDelivery:
        summary = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}[refund.status]
        resource = refund.notice(self.mchid)
        return self.notify(refund.notify_url, f"REFUND.{refund.status}", summary, "refund", resource)

    def notify(
        self, url: str, event_type: str, summary: str, original_type: str, resource: object
    ) -> NotificationDelivery:
        """Seal `resource`, wrap it in an event and deliver it on WeChat's schedule until acknowledged."""
        nonce = crypto.aead_nonce()
        plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()
        envelope: w.NotificationBody = {
            "id": f"EV-{secrets.randbelow(10**18):018d}",
            "create_time": rfc3339(datetime.now(UTC)),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": w.AEAD_ALGORITHM,
                "ciphertext": crypto.aes_gcm_encrypt(
                    self.apiv3_key.encode("ascii"), nonce, original_type, plaintext
                ),
                "associated_data": original_type,
                "nonce": nonce,
            },
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()

        def build() -> httpx.Request:
            # Every attempt is signed afresh: a retry hours later must pass the 5-minute check.
            headers = crypto.signed_headers(
                self.platform_key, self.platform_key_id, body, str(int(time.time()))
            )
            headers["Content-Type"] = "application/json"
            return httpx.Request("POST", url, headers=headers, content=body)

        return self.sender.send(
            NotificationDelivery(build=build, accepted=acknowledged, schedule=RETRY_SCHEDULE)
        )

    # -- cashier ------------------------------------------------------------------------------

    async def _cashier(self, request: httpx.Request, token: str) -> httpx.Response:
        order = self.orders.get(self.tokens.get(token, ""))
        if order is None:
            return _html(404, render_missing())
        action = f"{PREFIX}/cashier/{token}"
        if request.method == "GET":
            redirect_url = _safe_redirect(request.url.params.get("redirect_url", ""))
            message = "支付结果已提交 Outcome recorded" if request.url.params.get("done") else ""
            return _html(200, render_cashier(order, action, redirect_url, message))
        if request.method != "POST":
            return _html(405, render_missing())
        form = dict(parse_qsl(request.content.decode("utf-8", "replace"), keep_blank_values=True))
        redirect_url = _safe_redirect(form.get("redirect_url", ""))
        amount = None
        if form.get("outcome") == Outcome.DIFFERENT_AMOUNT:
            amount = _form_fen(form.get("amount", ""))
        try:
            await self.pay(order.out_trade_no, form.get("outcome", ""), amount)
        except SandboxError as exc:
            return _html(400, render_cashier(order, action, redirect_url, str(exc)))
        location = redirect_url or f"{action}?done=1"
        return httpx.Response(303, headers={"Location": location})

    # -- the JSAPI pay sheet, opened by the bridge stand-in ------------------------------------------

    def _bridge_sheet(self, request: httpx.Request) -> httpx.Response:
        """WeChat's checks of a getBrandWCPayRequest call, then the cashier for the tester's outcome."""
        form = dict(parse_qsl(request.content.decode("utf-8", "replace"), keep_blank_values=True))
        reason = jsapi.check_bridge_params(self.merchant_public_key, form)
        if reason is not None:
            return _html(400, render_bridge_refused(reason))
        prepay = jsapi.prepay_id_of(form["package"])
        order = next((o for o in self.orders.values() if prepay and o.prepay_id == prepay), None)
        if order is None:
            return _html(400, render_bridge_refused("prepay_id 不存在 no such prepay_id"))
        if form["appId"] != order.appid:
            return _html(400, render_bridge_refused("appId 与下单 appid 不一致 appId is not the order's"))
        if datetime.now(UTC) - order.created_at > PREPAY_TTL:
            return _html(400, render_bridge_refused("prepay_id 已过期 the prepay_id has expired"))
        if self.oauth.current_openid(request, order.appid) != order.payer_openid:
            # Only the WeChat user the order was made for can pay it.
            return _html(
                400, render_bridge_refused("当前微信用户不是下单用户 this user is not the order's payer")
            )
        action = f"{PREFIX}/cashier/{order.token}"
        via = "JSAPI · WeixinJSBridge 沙箱替身 stand-in: paySign verified"
        redirect_url = _safe_redirect(form.get("redirect_url", ""))
        return _html(200, render_cashier(order, action, redirect_url, via=via))


def _html(status: int, page: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=page.encode(),
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
    )


def _safe_redirect(url: str) -> str:
    # Display only, but never a javascript: or data: URL.
    return url if urlsplit(url).scheme in ("http", "https") else ""


def _form_fen(text: str) -> int | None:
    match = re.fullmatch(r"(0|[1-9][0-9]{0,9})(?:\.([0-9]{1,2}))?", text.strip())
    if match is None:
        return None
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


# -- wiring -----------------------------------------------------------------------------------


def merchant_serial_no(key: rsa.RSAPrivateKey) -> str:
    """A stable 40-hex-digit stand-in for the merchant certificate serial."""
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha1(spki, usedforsecurity=False).hexdigest().upper()


def public_key_id(key: rsa.RSAPrivateKey) -> str:
    """A stable PUB_KEY_ID_... for the sandbox platform key, shaped like WeChat's."""
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    number = int.from_bytes(hashlib.sha256(spki).digest()[:12], "big") % 10**26
    return f"{PUB_KEY_ID_PREFIX}01{number:026d}"


def load_or_create_apiv3_key(path: Path) -> str:
    if path.exists():
        return path.read_text("ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    key = "".join(secrets.choice(alphabet) for _ in range(32))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(key, "ascii")
    tmp.chmod(0o600)
    tmp.replace(path)
    return key


def build_sandbox(
    options: SandboxOptions, notify_client_factory: NotifyClientFactory
) -> tuple[WechatPayConfig, WechatPaySandbox]:
    folder = options.data_dir / KEY_DIR
    platform = load_or_create_rsa_key(folder / PLATFORM_KEY_FILE)
    merchant = load_or_create_rsa_key(folder / MERCHANT_KEY_FILE)
    apiv3_key = load_or_create_apiv3_key(folder / APIV3_KEY_FILE)
    # An AppSecret is 32 letters and digits too, so it is made the same way.
    official_account_secret = load_or_create_apiv3_key(folder / OFFICIAL_ACCOUNT_SECRET_FILE)
    key_id, serial = public_key_id(platform), merchant_serial_no(merchant)
    sandbox = WechatPaySandbox(
        options=options,
        notify_client_factory=notify_client_factory,
        platform_key=platform,
        platform_key_id=key_id,
        merchant_public_key=merchant.public_key(),
        merchant_serial_no=serial,
        apiv3_key=apiv3_key,
        official_account_secret=official_account_secret,
    )
    config = WechatPayConfig(
        mode="sandbox",
        gateway_url=sandbox.gateway_url,
        mchid=SANDBOX_MCHID,
        appid=SANDBOX_APPID,
        merchant_serial_no=serial,
        merchant_private_key_pem=merchant.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        apiv3_key=apiv3_key,
        platform_public_keys={key_id: public_pem(platform)},
        official_account_secret=official_account_secret,
        oauth_authorize_url=sandbox.gateway_url + AUTHORIZE_PATH,
        oauth_api_url=sandbox.gateway_url,
    )
    return config, sandbox


__all__ = ["Outcome", "SandboxError", "WechatPaySandbox", "build_sandbox", "cashier_url_for"]
