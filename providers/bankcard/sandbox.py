"""The bank card sandbox: plays UnionPay's ACP 5.1.0 gateway under /sandbox/bankcard/.

Served paths (all POST unless noted), mirroring the real hosts:
  gateway/api/frontTransReq.do   browser form -> hosted card page (303 to cashier/<orderId>)
  gateway/api/backTransReq.do    refunds (txnType=04)
  gateway/api/queryTrans.do      transaction status query
  filedownload/                  fileTransfer (txnType=76), the real filedownload host's root
  cashier/<orderId>              GET the card page, POST an outcome

Requests are verified as UnionPay would (certId must be the merchant certificate's decimal serial,
then the signature); a bad one gets respCode 11 (a signed answer, or an error page for the
browser). Everything the sandbox sends carries signPubKeyCert and a signature from its own
root -> middle -> signing chain, generated at first start under data_dir/bankcard/.

Retry schedule of back notifications: UNVERIFIED (providers.md 6: no primary source). Assumed:
after the first attempt, 1, 2, 4, 8 and 16 minutes (the doubling UnionPay's demos recommend for
polling back transactions), then give up; only HTTP 200 counts as acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa

from payments.domain.errors import FieldError
from payments.domain.money import Money, parse_yuan
from providers.bankcard import sandbox_pki, wire
from providers.bankcard.config import UNIONPAY_CN_ORG, BankCardConfig
from providers.bankcard.crypto import load_certificate
from providers.bankcard.sandbox_book import Outcome, SandboxError, SandboxOrder, SandboxRefund
from providers.bankcard.sandbox_gateway import SandboxGateway
from providers.base import BEIJING
from providers.simulator import (
    NotificationDelivery,
    NotificationSender,
    NotifyClientFactory,
    SandboxOptions,
    load_or_create_rsa_key,
)

PREFIX = "/sandbox/bankcard"
SANDBOX_MER_ID = "777000000000001"
NOTIFY_SCHEDULE: tuple[float, ...] = (60.0, 120.0, 240.0, 480.0, 960.0)  # ASSUMED, see docstring
_FORM = "application/x-www-form-urlencoded;charset=UTF-8"


def acknowledged(response: httpx.Response) -> bool:
    """ASSUMED (providers.md 6): HTTP 200 is the acknowledgement; the body is not looked at."""
    return response.status_code == 200


class BankCardSandbox:
    name = "bankcard"

    def __init__(
        self,
        options: SandboxOptions,
        notify_client_factory: NotifyClientFactory,
        *,
        mer_id: str,
        merchant_cert: x509.Certificate,
        platform_key: rsa.RSAPrivateKey,
        signing_cert_pem: bytes,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.options = options
        self.sender = NotificationSender(notify_client_factory, options.time_factor)
        self.gateway = SandboxGateway(
            mer_id=mer_id,
            merchant_cert=merchant_cert,
            platform_key=platform_key,
            signing_cert_pem=signing_cert_pem,
            notify=self._notify,
            clock=clock or (lambda: datetime.now(BEIJING)),
        )

    @property
    def orders(self) -> dict[str, SandboxOrder]:
        return self.gateway.orders

    @property
    def refunds(self) -> dict[str, SandboxRefund]:
        return self.gateway.refunds

    def _notify(self, back_url: str, body: bytes) -> NotificationDelivery:
        # UnionPay signs a notification once; every retry repeats the same bytes.
        def build() -> httpx.Request:
            return httpx.Request("POST", back_url, content=body, headers={"Content-Type": _FORM})

        return self.sender.send(NotificationDelivery(build, acknowledged, NOTIFY_SCHEDULE))

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if not path.startswith(PREFIX + "/"):
            return httpx.Response(404, text="not found")
        rest = path[len(PREFIX) :]
        body = await request.aread()
        if request.method == "POST":
            if rest == "/gateway/api/frontTransReq.do":
                return self._front(body)
            if rest == "/gateway/api/backTransReq.do":
                return _text(self.gateway.back_transaction(body))
            if rest == "/gateway/api/queryTrans.do":
                return _text(self.gateway.query(body))
            if rest in ("/filedownload/", "/filedownload"):
                return _text(self.gateway.file_transfer(body))
        if rest.startswith("/cashier/"):
            order_id = rest[len("/cashier/") :]
            if request.method == "GET":
                return _html(200, self.gateway.cashier_html(order_id, self._cashier_path(order_id)))
            if request.method == "POST":
                return await self._outcome(order_id, body)
        return httpx.Response(404, text="not found")

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self.handle)

    async def aclose(self) -> None:
        await self.sender.aclose()

    async def pay(
        self, out_trade_no: str, outcome: Outcome = "pay", amount: Money | None = None
    ) -> SandboxOrder:
        """Apply a cashier outcome without a browser. Raises SandboxError when it cannot apply."""
        self.gateway.apply_outcome(out_trade_no, outcome, amount)
        return self.gateway.orders[out_trade_no]

    def statement_zip(self, day: date) -> bytes:
        return self.gateway.statement_zip(day)

    def _cashier_path(self, order_id: str) -> str:
        return f"{PREFIX}/cashier/{order_id}"

    def _front(self, body: bytes) -> httpx.Response:
        try:
            order_id = self.gateway.front_transaction(body)
        except SandboxError as exc:
            return _html(400, self.gateway.error_html(exc.code, exc.message, exc.english))
        location = self.options.public_base_url.rstrip("/") + self._cashier_path(order_id)
        return httpx.Response(303, headers={"Location": location})

    async def _outcome(self, order_id: str, body: bytes) -> httpx.Response:
        try:
            form = wire.decode_form(body)
        except wire.WireFormatError:
            return _html(400, self.gateway.error_html("10", "表单无法解析", "The form did not parse."))
        # The card inputs (cardNo, expired, cvn2) are dropped here, unread and unlogged.
        outcome: Outcome = form.get("outcome", "")  # type: ignore[assignment]  # checked below
        amount: Money | None = None
        if outcome == "amount":
            try:
                amount = Money(parse_yuan(form.get("amount", ""), "amount"))
            except FieldError:
                return _html(400, self.gateway.error_html("10", "金额无效", "Invalid amount."))
        if outcome not in _OUTCOMES:
            return _html(400, self.gateway.error_html("10", "未知操作", "Unknown outcome."))
        try:
            front_url = self.gateway.apply_outcome(order_id, outcome, amount)
        except SandboxError as exc:
            return _html(409, self.gateway.error_html(exc.code, exc.message, exc.english))
        # UnionPay posts a signed form to frontUrl; display-only either way, so a redirect does.
        return httpx.Response(303, headers={"Location": front_url})


_OUTCOMES = ("pay", "fail", "amount", "twice", "silent")


def _text(answer: str) -> httpx.Response:
    return httpx.Response(
        200, content=answer.encode("utf-8"), headers={"Content-Type": "text/plain;charset=UTF-8"}
    )


def _html(status: int, page: str) -> httpx.Response:
    return httpx.Response(
        status, content=page.encode("utf-8"), headers={"Content-Type": "text/html; charset=utf-8"}
    )


# -- keys and certificates -----------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _load_certs(folder: Path, names: tuple[str, ...]) -> list[x509.Certificate] | None:
    try:
        return [load_certificate((folder / f"{name}.crt.pem").read_bytes()) for name in names]
    except (OSError, ValueError):
        return None


def _usable(certs: list[x509.Certificate] | None, keys: list[rsa.RSAPrivateKey], now: datetime) -> bool:
    if certs is None:
        return False
    root, middle, signing, merchant = certs
    soon = now + timedelta(days=30)
    try:
        middle.verify_directly_issued_by(root)
        signing.verify_directly_issued_by(middle)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return all(
        cert.public_key() == key.public_key() and cert.not_valid_after_utc > soon
        for cert, key in zip(certs, keys, strict=True)
    ) and all(cert.not_valid_before_utc <= now for cert in (root, middle, signing, merchant))


def build_sandbox(
    options: SandboxOptions,
    notify_client_factory: NotifyClientFactory,
    *,
    clock: Callable[[], datetime] | None = None,
) -> tuple[BankCardConfig, BankCardSandbox]:
    """Load or create the sandbox's PKI under data_dir/bankcard/ and wire a merchant config to it."""
    folder = options.data_dir / "bankcard"
    names = ("root", "middle", "sign", "merchant")
    keys = [load_or_create_rsa_key(folder / f"{name}.key.pem") for name in names]
    now = datetime.now(BEIJING)
    certs = _load_certs(folder, names)
    if not _usable(certs, keys, now):
        # Keys persist; certificates are cheap to reissue as a set whenever one is missing or stale.
        chain = sandbox_pki.build_platform_chain(
            root_key=keys[0], middle_key=keys[1], signing_key=keys[2], cn_org=UNIONPAY_CN_ORG, now=now
        )
        merchant = sandbox_pki.build_merchant_certificate(key=keys[3], mer_id=SANDBOX_MER_ID, now=now)
        certs = [chain.root, chain.middle, chain.signing, merchant]
        for name, cert in zip(names, certs, strict=True):
            _write(folder / f"{name}.crt.pem", sandbox_pki.cert_pem(cert))
    assert certs is not None
    root, middle, signing, merchant = certs
    base = options.public_base_url.rstrip("/")
    config = BankCardConfig(
        mode="sandbox",
        mer_id=SANDBOX_MER_ID,
        signing_key_pem=(folder / "merchant.key.pem").read_bytes(),
        signing_cert_pem=sandbox_pki.cert_pem(merchant),
        root_cert_pem=sandbox_pki.cert_pem(root),
        middle_cert_pem=sandbox_pki.cert_pem(middle),
        gateway_base=base + PREFIX,
        file_url=base + PREFIX + "/filedownload/",
        expected_cn_org=UNIONPAY_CN_ORG,
        refund_notify_url=base + "/notify/bankcard",
    )
    sandbox = BankCardSandbox(
        options,
        notify_client_factory,
        mer_id=SANDBOX_MER_ID,
        merchant_cert=merchant,
        platform_key=keys[2],
        signing_cert_pem=sandbox_pki.cert_pem(signing),
        clock=clock,
    )
    return config, sandbox
