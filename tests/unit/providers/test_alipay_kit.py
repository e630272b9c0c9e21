"""Shared helpers for the Alipay rail tests (no tests here).

Keys are generated once per test process into one temporary folder; every harness then loads them,
so each test gets a fresh sandbox (fresh orders) without paying for RSA key generation again.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx

from payments.domain.money import Money
from providers.alipay import crypto
from providers.alipay.client import AlipayProvider
from providers.alipay.config import AlipayConfig
from providers.alipay.sandbox import AlipaySandbox, build_sandbox
from providers.base import BEIJING, OrderRequest, Scene
from providers.simulator import SandboxOptions, load_or_create_rsa_key

BASE_URL = "http://127.0.0.1:8000"
NOTIFY_URL = BASE_URL + "/notify/alipay"
RETURN_URL = BASE_URL + "/pay/tok123/done"
FAST = 1_000_000.0  # the whole 24-hour retry schedule takes under a tenth of a second


@functools.cache
def _keys_dir() -> Path:
    holder = tempfile.TemporaryDirectory(prefix="payrecon-alipay-")
    _keep.append(holder)  # cleaned up when the interpreter exits
    path = Path(holder.name)
    build_sandbox(SandboxOptions(path, BASE_URL), lambda: httpx.AsyncClient())
    load_or_create_rsa_key(path / "other" / "stranger.pem")
    return path


_keep: list[tempfile.TemporaryDirectory[str]] = []


@functools.cache
def stranger_key():
    """An RSA key that is neither the merchant's nor the sandbox platform's."""
    return load_or_create_rsa_key(_keys_dir() / "other" / "stranger.pem")


@functools.cache
def platform_key():
    return load_or_create_rsa_key(_keys_dir() / "alipay" / "alipay_platform_key.pem")


@functools.cache
def merchant_key():
    return load_or_create_rsa_key(_keys_dir() / "alipay" / "merchant_app_key.pem")


@functools.cache
def _merchant_public():
    return merchant_key().public_key()


Responder = Callable[[httpx.Request], httpx.Response]


def always(body: bytes, status: int = 200) -> Responder:
    return lambda request: httpx.Response(status, content=body)


@dataclass
class Kit:
    config: AlipayConfig
    sandbox: AlipaySandbox
    provider: AlipayProvider
    http: httpx.AsyncClient
    received: list[httpx.Request] = field(default_factory=list)
    responder: Responder = field(default_factory=lambda: always(b"success"))

    def provider_with(self, **changes: object) -> AlipayProvider:
        """A client for the same sandbox with some config fields changed."""
        return AlipayProvider(replace(self.config, **changes), self.http)

    def order(
        self,
        out_trade_no: str = "ORDER00001",
        *,
        fen: int = 12345,
        scene: Scene = Scene.QR,
        subject: str = "还款 Repayment",
        minutes: int = 30,
    ) -> OrderRequest:
        return OrderRequest(
            out_trade_no=out_trade_no,
            amount=Money(fen),
            subject=subject,
            notify_url=NOTIFY_URL,
            return_url=RETURN_URL,
            expires_at=datetime.now(BEIJING) + timedelta(minutes=minutes),
            scene=scene,
        )

    def bodies(self) -> list[bytes]:
        return [request.content for request in self.received]

    async def aclose(self) -> None:
        await self.sandbox.aclose()  # the merchant client is shared by the whole test process


class _Router:
    """Sends the shared client's requests to whichever sandbox the current test made."""

    def __init__(self) -> None:
        self.target: AlipaySandbox | None = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert self.target is not None
        return await self.target.handle(request)


@functools.cache
def shared() -> tuple[AlipayConfig, AlipayProvider, httpx.AsyncClient, _Router]:
    # Loading an RSA private key validates it (about 50 ms); one client per process keeps tests fast.
    config, _ = build_sandbox(SandboxOptions(_keys_dir(), BASE_URL), lambda: httpx.AsyncClient())
    router = _Router()
    http = httpx.AsyncClient(transport=httpx.MockTransport(router))
    return config, AlipayProvider(config, http), http, router


def make_kit(time_factor: float = FAST) -> Kit:
    """A fresh sandbox (no orders), and the merchant client wired to it."""
    holder: dict[str, Kit] = {}

    def record(request: httpx.Request) -> httpx.Response:
        kit = holder["kit"]
        kit.received.append(request)
        return kit.responder(request)

    config, provider, http, router = shared()
    sandbox = AlipaySandbox(
        SandboxOptions(_keys_dir(), BASE_URL, time_factor=time_factor),
        platform_key=platform_key(),
        merchant_public_key=_merchant_public(),
        notify_client_factory=lambda: httpx.AsyncClient(transport=httpx.MockTransport(record)),
    )
    router.target = sandbox
    kit = Kit(config=config, sandbox=sandbox, provider=provider, http=http)
    holder["kit"] = kit
    return kit


def form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("ascii"), keep_blank_values=True))


def signed_notification(fields: dict[str, str], key=None) -> bytes:
    """A notification body signed as Alipay signs it (sign_type out of the content), form-encoded."""
    signing = dict(fields)
    signing.setdefault("sign_type", "RSA2")
    signature = crypto.sign(key or platform_key(), crypto.notification_sign_content(signing))
    return urlencode({**signing, "sign": signature}).encode("ascii")


def payment_fields(config: AlipayConfig, **changes: str) -> dict[str, str]:
    fields = {
        "notify_time": "2024-05-01 10:00:05",
        "notify_type": "trade_status_sync",
        "notify_id": "2024050100222100005012345678901234",
        "app_id": config.app_id,
        "auth_app_id": config.app_id,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": "2024050122001400001234567890",
        "out_trade_no": "ORDER00001",
        "buyer_id": "2088102177000000",
        "seller_id": config.seller_id,
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "123.45",
        "receipt_amount": "120.00",
        "subject": "还款+测试 A&B=C",
        "gmt_create": "2024-05-01 09:59:00",
        "gmt_payment": "2024-05-01 10:00:01",
    }
    fields.update(changes)
    return fields
