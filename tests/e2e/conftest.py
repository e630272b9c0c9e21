"""Browser tests: the real service in a subprocess, driven by Debian's Chromium through Playwright.

One server per test session (`payrecon db upgrade`, `payrecon api-key create`, `payrecon serve`) on a
free loopback port, with its own data directory and its own database (a scratch PostgreSQL database
beside PAYRECON_TEST_DATABASE_URL, or SQLite in the data directory). The sandboxes inside it post their
notifications back to it over loopback HTTP. Cases and links are made through the case-system API.

Each test opens fresh browser contexts: own cookies, own client address (X-Forwarded-For from loopback,
which uvicorn trusts), so the per-address rate limit of the pay pages counts each test on its own.
Every test saves full-page screenshots to artifacts/screenshots/<test>-<step>.png.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.api.conftest import case_body, debt

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PHONE_VIEWPORT = {"width": 390, "height": 844}
DESKTOP_VIEWPORT = {"width": 1280, "height": 800}
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)
ALIPAY_UA = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0 Mobile Safari/537.36 AlipayClient/10.5.36.8000"
)
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
)
CREDITOR = "示例消费金融有限公司"
SERVER_START_SECONDS = 30
_addresses = itertools.count(1)


# ---- the server under test -------------------------------------------------------------------------


def _admin(url: str, statement: str) -> None:
    async def run() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def e2e_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's own database: never shared with the in-process tests (its scheduler runs)."""
    url = os.environ.get("PAYRECON_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('e2e-db') / 'payrecon.db'}"
        return
    base, _, name = url.rpartition("/")
    scratch = f"{name}_e2e_{uuid.uuid4().hex[:12]}"
    _admin(url, f'CREATE DATABASE "{scratch}"')
    try:
        yield f"{base}/{scratch}"
    finally:
        _admin(url, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


@dataclass(frozen=True)
class Server:
    base_url: str
    api_key: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603  (our own CLI, fixed arguments)
        [sys.executable, "-m", "payments.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"payrecon {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def server(e2e_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("e2e-data")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # Settings refuse unknown PAYRECON_ names (PAYRECON_TEST_DATABASE_URL among them): start clean.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYRECON_")}
    env.update(
        PAYRECON_DATA_DIR=str(data),
        PAYRECON_DATABASE__URL=e2e_database,
        PAYRECON_SERVER__PORT=str(port),
        PAYRECON_SERVER__PUBLIC_BASE_URL=base,
        PAYRECON_PROVIDERS__SANDBOX_TIME_FACTOR="1000",
        PYTHONUNBUFFERED="1",
    )
    _cli(env, "db", "upgrade")
    created = _cli(env, "api-key", "create", "--client", "E2E Lender", "--name", "browser tests")
    key = re.search(r"^key\s+(\S+)$", created, re.MULTILINE)
    assert key, created
    log_path = data / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "payments.cli", "serve"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(process, base, log_path)
        yield Server(base, key.group(1), log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_ready(process: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"payrecon serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"payrecon serve not ready in {SERVER_START_SECONDS}s:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
async def api(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    """The case system: the JSON API with a case_system key."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as client:
        yield client


# ---- cases and links -------------------------------------------------------------------------------

PRINCIPAL_FEN, INTEREST_FEN, FEES_FEN = 100_000, 3_550, 2_000
TOTAL_FEN = PRINCIPAL_FEN + INTEREST_FEN + FEES_FEN
MIN_FEN = 10_000
RANGE_POLICY = {"kind": "range", "min_amount": "100.00"}


@dataclass(frozen=True)
class PayLink:
    id: str
    case_id: str
    url: str

    @property
    def token(self) -> str:
        return self.url.rsplit("/", 1)[1]


async def make_link(
    api: httpx.AsyncClient,
    *,
    policy: dict[str, Any] | None = None,
    channels: list[str] | None = None,
    expires_at: datetime | None = None,
) -> PayLink:
    """A case (one debt: principal 1000.00, interest 35.50, fees 20.00) and a range link on it."""
    body = case_body(
        None,
        debt("D1", "2024-03-31", principal="1000.00", interest="35.50", fees="20.00"),
        creditor_name=CREDITOR,
    )
    resp = await api.post("/v1/cases", json=body)
    assert resp.status_code == 201, resp.text
    case_id = resp.json()["id"]
    link: dict[str, Any] = {"amount_policy": policy or RANGE_POLICY}
    if channels is not None:
        link["channels"] = channels
    if expires_at is not None:
        link["expires_at"] = expires_at.isoformat()
    resp = await api.post(f"/v1/cases/{case_id}/links", json=link)
    assert resp.status_code == 201, resp.text
    view = resp.json()
    return PayLink(view["id"], case_id, view["url"])


# ---- the browser -----------------------------------------------------------------------------------


def _chromium_present() -> bool:
    return CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not _chromium_present():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package (pip install playwright)")
    playwright = await async_playwright().start()
    try:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            await chromium.close()
    finally:
        await playwright.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.when == "call":
        item.stash[_failed] = report.failed
    return report


_failed = pytest.StashKey[bool]()


def _test_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")


NewContext = Callable[..., Awaitable["BrowserContext"]]


@pytest.fixture
async def new_context(
    browser: Browser, server: Server, request: pytest.FixtureRequest
) -> AsyncIterator[NewContext]:
    """Opens browser contexts (a phone in zh-CN by default); closes them after the test, with a
    screenshot of every open page if the test failed."""
    contexts: list[BrowserContext] = []

    async def open_context(
        *,
        user_agent: str = IPHONE_UA,
        locale: str = "zh-CN",
        viewport: dict[str, int] | None = None,
        javascript: bool = True,
        accept_language: str | None = None,
    ) -> BrowserContext:
        n = next(_addresses)
        headers = {"X-Forwarded-For": f"10.99.{n // 250}.{n % 250 + 1}"}
        if accept_language:
            headers["Accept-Language"] = accept_language
        context = await browser.new_context(
            base_url=server.base_url,
            viewport=viewport or PHONE_VIEWPORT,
            user_agent=user_agent,
            locale=locale,
            java_script_enabled=javascript,
            extra_http_headers=headers,
        )
        context.set_default_timeout(10_000)
        context.set_default_navigation_timeout(15_000)
        contexts.append(context)
        return context

    yield open_context
    failed = request.node.stash.get(_failed, False)
    for context in contexts:
        if failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for n, page in enumerate(context.pages):
                try:
                    await page.screenshot(
                        path=ARTIFACTS / f"{_test_name(request)}-failure-{n}.png",
                        full_page=True,
                        timeout=5_000,
                    )
                except Exception as exc:  # a diagnostic only; keep the real failure
                    print(f"no failure screenshot: {exc}")
        await context.close()


Shot = Callable[["Page", str], Awaitable[None]]


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Shot:
    """`await shot(page, "03-pay")` saves artifacts/screenshots/<test>-03-pay.png (full page)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = _test_name(request)
    for stale in ARTIFACTS.glob(f"{name}-*.png"):  # from an earlier run of this test
        stale.unlink()

    async def take(page: Page, step: str) -> None:
        await page.screenshot(path=ARTIFACTS / f"{name}-{step}.png", full_page=True)

    return take
