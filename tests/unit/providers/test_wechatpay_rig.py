"""Shared rig for the WeChat Pay tests (client <-> sandbox over httpx.MockTransport), and the tests of
the rig's own wiring: build_sandbox's key files and config."""

from __future__ import annotations

import functools
import json
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from payments.domain.money import Money
from providers.base import OrderRequest, Scene
from providers.simulator import SandboxOptions
from providers.wechatpay import crypto
from providers.wechatpay.client import WechatPayProvider
from providers.wechatpay.config import WechatPayConfig
from providers.wechatpay.sandbox import (
    KEY_DIR,
    MERCHANT_KEY_FILE,
    PLATFORM_KEY_FILE,
    WechatPaySandbox,
    build_sandbox,
)

BASE_URL = "http://127.0.0.1:8000"
NOTIFY_URL = f"{BASE_URL}/notify/wechatpay"
RETURN_URL = f"{BASE_URL}/pay/tok123"
# Large enough that WeChat's 24-hour retry schedule runs in under a tenth of a second.
TIME_FACTOR = 1_000_000.0


def pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@functools.cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """Generated once per test run and name; never stored in the repository."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def seed_keys(data_dir: Path) -> None:
    """Place this run's keys where build_sandbox looks, so it loads instead of generating them."""
    folder = data_dir / KEY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PLATFORM_KEY_FILE).write_bytes(pem(rsa_key("platform")))
    (folder / MERCHANT_KEY_FILE).write_bytes(pem(rsa_key("merchant")))


Answer = Callable[[httpx.Request], httpx.Response]


@dataclass
class Rig:
    config: WechatPayConfig
    sandbox: WechatPaySandbox
    provider: WechatPayProvider
    http: httpx.AsyncClient
    notifications: list[httpx.Request] = field(default_factory=list)
    answer: Answer = field(default=lambda request: httpx.Response(204))
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    seen: list[httpx.Request] = field(default_factory=list)

    def provider_via(
        self,
        edit: Callable[[httpx.Request, httpx.Response], httpx.Response] | None = None,
        config: WechatPayConfig | None = None,
    ) -> WechatPayProvider:
        """A client whose gateway traffic is recorded in `seen`, and answers optionally edited."""

        async def tap(request: httpx.Request) -> httpx.Response:
            await request.aread()
            self.seen.append(request)
            response = await self.sandbox.handle(request)
            return edit(request, response) if edit else response

        client = httpx.AsyncClient(transport=httpx.MockTransport(tap))
        self.clients.append(client)
        return WechatPayProvider(config or self.config, client)

    async def notify_endpoint(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.notifications.append(request)
        return self.answer(request)

    async def order(self, out_trade_no: str = "ORDER20240001", fen: int = 12345, scene: Scene = Scene.QR):
        return await self.provider.create_order(order_request(out_trade_no, fen, scene))

    async def paid(self, out_trade_no: str = "ORDER20240001", fen: int = 12345, outcome: str = "pay") -> None:
        await self.order(out_trade_no, fen)
        await self.sandbox.pay(out_trade_no, outcome)
        await self.sandbox.sender.drain()

    def parse(self, request: httpx.Request, now: datetime | None = None):
        return self.provider.parse_notification(request.headers, request.content, now or datetime.now(UTC))

    def sealed(self, resource: dict[str, Any], **options: Any) -> tuple[dict[str, str], bytes]:
        options.setdefault("key", self.sandbox.platform_key)
        options.setdefault("key_id", self.sandbox.platform_key_id)
        options.setdefault("apiv3_key", self.config.apiv3_key)
        return seal(resource, **options)

    def transaction(self, **changes: Any) -> dict[str, Any]:
        return transaction_resource(self.config, **changes)

    async def oauth_code(self, user_cookie: str = "", state: str = "S1") -> tuple[str, str]:
        """WeChat's silent OAuth as a browser goes through it: (the code, the sandbox's user cookie)."""
        url = self.provider.payer_auth_url(f"{BASE_URL}/pay/tok123/in-app/wechatpay", state)
        headers = {"Cookie": user_cookie} if user_cookie else {}
        answer = await self.sandbox.handle(httpx.Request("GET", url, headers=headers))
        assert answer.status_code == 302, answer.text
        query = httpx.URL(answer.headers["Location"]).params
        assert query["state"] == state
        return query["code"], user_cookie or answer.headers["Set-Cookie"].split(";")[0]

    async def openid(self) -> tuple[str, str]:
        """A payer's openid as the service gets it, and that payer's sandbox cookie."""
        code, cookie = await self.oauth_code()
        return await self.provider.payer_id_for_code(code), cookie


def seal(
    resource: dict[str, Any],
    *,
    key: rsa.RSAPrivateKey,
    key_id: str,
    apiv3_key: str,
    event_type: str = "TRANSACTION.SUCCESS",
    original_type: str = "transaction",
    timestamp: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """A notification as WeChat builds it, with every part overridable for the refusal tests."""
    nonce = crypto.aead_nonce()
    plaintext = json.dumps(resource, ensure_ascii=False).encode()
    envelope = {
        "id": "EV-2018022511223320873",
        "create_time": "2024-01-16T22:43:59+08:00",
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "支付成功",
        "resource": {
            "original_type": original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": crypto.aes_gcm_encrypt(apiv3_key.encode("ascii"), nonce, original_type, plaintext),
            "associated_data": original_type,
            "nonce": nonce,
        },
    }
    body = json.dumps(envelope, ensure_ascii=False).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    return crypto.signed_headers(key, key_id, body, stamp), body


def transaction_resource(config: WechatPayConfig, **changes: Any) -> dict[str, Any]:
    doc = {
        "appid": config.appid,
        "mchid": config.mchid,
        "out_trade_no": "ORDER20240001",
        "transaction_id": "4200002086202401162384712345",
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "attach": "",
        "success_time": "2024-01-16T22:43:59+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": 12345, "payer_total": 12345, "currency": "CNY", "payer_currency": "CNY"},
    }
    doc.update(changes)
    return doc


def order_request(
    out_trade_no: str = "ORDER20240001", fen: int = 12345, scene: Scene = Scene.QR
) -> OrderRequest:
    return OrderRequest(
        out_trade_no=out_trade_no,
        amount=Money(fen),
        subject="还款 Repayment",
        notify_url=NOTIFY_URL,
        return_url=RETURN_URL,
        expires_at=datetime.now(UTC) + timedelta(hours=2),
        scene=scene,
        client_ip="203.0.113.7",
    )


@functools.cache
def wiring() -> tuple[WechatPayConfig, dict[str, Any], tempfile.TemporaryDirectory[str]]:
    """build_sandbox once per run: loading (and so validating) RSA keys costs ~40 ms each."""
    folder = tempfile.TemporaryDirectory(prefix="wechatpay-test-")
    seed_keys(Path(folder.name))
    config, sandbox = build_sandbox(
        SandboxOptions(data_dir=Path(folder.name), public_base_url=BASE_URL), httpx.AsyncClient
    )
    keys = {
        "platform_key": sandbox.platform_key,
        "platform_key_id": sandbox.platform_key_id,
        "merchant_public_key": sandbox.merchant_public_key,
        "merchant_serial_no": sandbox.merchant_serial_no,
        "apiv3_key": sandbox.apiv3_key,
        "official_account_secret": config.official_account_secret,
    }
    return config, keys, folder


@asynccontextmanager
async def open_rig(data_dir: Path, **sandbox_options: Any) -> AsyncIterator[Rig]:
    """A fresh sandbox (empty memory) with this run's keys, and a client wired to it."""
    options = SandboxOptions(data_dir=data_dir, public_base_url=BASE_URL, time_factor=TIME_FACTOR)
    holder: list[Rig] = []

    def notify_client() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(holder[0].notify_endpoint))

    config, keys, _ = wiring()
    sandbox = WechatPaySandbox(
        options=options, notify_client_factory=notify_client, **keys, **sandbox_options
    )
    http = httpx.AsyncClient(transport=sandbox.transport())
    rig = Rig(config, sandbox, WechatPayProvider(config, http), http)
    holder.append(rig)
    try:
        yield rig
    finally:
        await sandbox.aclose()
        await http.aclose()
        for client in rig.clients:
            await client.aclose()


# -- the rig's own wiring ------------------------------------------------------------------------


def test_build_sandbox_creates_keys_once_and_reuses_them(tmp_path: Path) -> None:
    options = SandboxOptions(data_dir=tmp_path, public_base_url=BASE_URL)
    first, _ = build_sandbox(options, httpx.AsyncClient)
    second, _ = build_sandbox(options, httpx.AsyncClient)
    assert first == second
    assert (tmp_path / KEY_DIR / PLATFORM_KEY_FILE).stat().st_mode & 0o077 == 0
    assert len(first.apiv3_key) == 32


def test_build_sandbox_config_points_at_the_sandbox_in_public_key_mode(tmp_path: Path) -> None:
    seed_keys(tmp_path)
    config, sandbox = build_sandbox(
        SandboxOptions(data_dir=tmp_path, public_base_url=BASE_URL + "/"), httpx.AsyncClient
    )
    assert config.mode == "sandbox"
    assert config.gateway_url == f"{BASE_URL}/sandbox/wechatpay"
    assert list(config.platform_public_keys) == [sandbox.platform_key_id]
    assert sandbox.platform_key_id.startswith("PUB_KEY_ID_")
    assert config.merchant_private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_config_repr_hides_the_secrets(tmp_path: Path) -> None:
    seed_keys(tmp_path)
    config, _ = build_sandbox(SandboxOptions(data_dir=tmp_path, public_base_url=BASE_URL), httpx.AsyncClient)
    assert config.apiv3_key not in repr(config)
    assert "PRIVATE KEY" not in repr(config)
