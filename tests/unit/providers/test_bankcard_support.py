"""Shared fixtures and helpers for the bank card tests (no tests here).

Keys are generated once per test session into one data folder; every test then builds a fresh
sandbox from that folder, which only loads them.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from payments.domain.money import Money
from providers.bankcard import sandbox_pki
from providers.bankcard.client import BankCardProvider
from providers.bankcard.config import UNIONPAY_CN_ORG, BankCardConfig
from providers.bankcard.crypto import load_certificate
from providers.bankcard.sandbox import BankCardSandbox, build_sandbox
from providers.base import OrderRequest, PayAction, Scene
from providers.simulator import SandboxOptions, load_or_create_rsa_key

BASE_URL = "http://127.0.0.1:8000"
NOTIFY_URL = BASE_URL + "/notify/bankcard"
RETURN_URL = BASE_URL + "/pay/tok123/return"

_shared: dict[str, Path] = {}


@pytest.fixture(scope="session", name="bankcard_data_dir")
def bankcard_data_dir_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "dir" not in _shared:
        _shared["dir"] = tmp_path_factory.mktemp("bankcard-sandbox")
        build_sandbox(SandboxOptions(_shared["dir"], BASE_URL), lambda: httpx.AsyncClient())
    return _shared["dir"]


@functools.cache
def _sandbox_parts(data_dir: Path) -> tuple[BankCardConfig, dict[str, Any]]:
    """build_sandbox's results, loaded once: key loading costs ~40 ms a key, and tests are many."""
    config, _ = build_sandbox(SandboxOptions(data_dir, BASE_URL), lambda: httpx.AsyncClient())
    folder = data_dir / "bankcard"
    parts = {
        "mer_id": config.mer_id,
        "merchant_cert": load_certificate(config.signing_cert_pem),
        "platform_key": load_or_create_rsa_key(folder / "sign.key.pem"),
        "signing_cert_pem": (folder / "sign.crt.pem").read_bytes(),
    }
    return config, parts


def fresh_sandbox(
    data_dir: Path,
    notify_factory: Callable[[], httpx.AsyncClient],
    *,
    time_factor: float = 1_000_000.0,  # a 16-minute retry comes after 1 ms
) -> tuple[BankCardConfig, BankCardSandbox]:
    config, parts = _sandbox_parts(data_dir)
    options = SandboxOptions(data_dir, BASE_URL, time_factor=time_factor)
    return config, BankCardSandbox(options, notify_factory, **parts)


def middle_key(data_dir: Path) -> rsa.RSAPrivateKey:
    return load_or_create_rsa_key(data_dir / "bankcard" / "middle.key.pem")


def signing_key(data_dir: Path) -> rsa.RSAPrivateKey:
    return load_or_create_rsa_key(data_dir / "bankcard" / "sign.key.pem")


@dataclass
class NotifyRecorder:
    """Stands in for the service's /notify/bankcard: records requests, answers with `statuses`."""

    statuses: list[int] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    async def handler(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        return httpx.Response(status, content=b"ok" if status == 200 else b"fail")

    def factory(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


@dataclass
class Env:
    config: BankCardConfig
    sandbox: BankCardSandbox
    provider: BankCardProvider
    recorder: NotifyRecorder
    browser: httpx.AsyncClient  # what the borrower's browser would do

    def client_with(self, **changes: object) -> BankCardProvider:
        return BankCardProvider(
            replace(self.config, **changes),  # type: ignore[arg-type]
            httpx.AsyncClient(transport=self.sandbox.transport()),
        )


@pytest.fixture(name="env")
async def env_fixture(bankcard_data_dir: Path) -> AsyncIterator[Env]:
    recorder = NotifyRecorder()
    config, sandbox = fresh_sandbox(bankcard_data_dir, recorder.factory)
    http = httpx.AsyncClient(transport=sandbox.transport())
    browser = httpx.AsyncClient(transport=sandbox.transport())
    try:
        yield Env(config, sandbox, BankCardProvider(config, http), recorder, browser)
    finally:
        await sandbox.aclose()
        await http.aclose()
        await browser.aclose()


def order_request(
    out_trade_no: str = "ORDER20250001",
    fen: int = 1234,
    *,
    scene: Scene = Scene.QR,
    expires_in: timedelta = timedelta(minutes=15),
    subject: str = "还款 Repayment",
) -> OrderRequest:
    return OrderRequest(
        out_trade_no=out_trade_no,
        amount=Money(fen),
        subject=subject,
        notify_url=NOTIFY_URL,
        return_url=RETURN_URL,
        expires_at=datetime.now(UTC) + expires_in,
        scene=scene,
    )


async def submit_form(env: Env, action: PayAction) -> httpx.Response:
    """The auto-submitting form, as the browser posts it to frontTransReq.do."""
    return await env.browser.post(action.url, data=dict(action.fields))


async def open_order(env: Env, out_trade_no: str = "ORDER20250001", fen: int = 1234) -> PayAction:
    action = await env.provider.create_order(order_request(out_trade_no, fen))
    response = await submit_form(env, action)
    assert response.status_code == 303, response.text
    return action


def now() -> datetime:
    return datetime.now(UTC)


OtherChain = tuple[sandbox_pki.PlatformChain, rsa.RSAPrivateKey]


@pytest.fixture(scope="session", name="other_chain")
def other_chain_fixture() -> OtherChain:
    """A second UnionPay-shaped chain with the right CN, trusted by nobody."""
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]
    chain = sandbox_pki.build_platform_chain(
        root_key=keys[0], middle_key=keys[1], signing_key=keys[2], cn_org=UNIONPAY_CN_ORG, now=now()
    )
    return chain, keys[2]
