"""Helpers for the link and pay-page tests: cases, links, and a fresh "browser" per test.

Each test gets its own cookie jar and its own client IP, so language and identity cookies never leak
between tests and the per-IP rate limit of the pay pages counts each test on its own.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import update

from payments.persistence.tables import Client, Link
from payments.services.container import Services
from tests.api.conftest import ID_NUMBER, PHONE, case_body, debt

BASE = "http://testserver.local"
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
ID_LAST4 = ID_NUMBER[-4:]
PHONE_LAST4 = PHONE[-4:]
_ips = itertools.count(1)


@pytest.fixture
async def browser(
    client: httpx.AsyncClient, app_holder: dict[str, Litestar]
) -> AsyncIterator[httpx.AsyncClient]:
    """A desktop browser with its own cookies and its own address (the app is started by `client`)."""
    n = next(_ips)
    transport = httpx.ASGITransport(app=app_holder["app"], client=(f"10.77.{n // 250}.{n % 250 + 1}", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers={"User-Agent": DESKTOP_UA}) as b:
        yield b


def path_of(url: str) -> str:
    assert url.startswith(BASE), url
    return url[len(BASE) :]


def token_of(link: dict[str, Any]) -> str:
    return link["url"].rsplit("/", 1)[1]


def csrf_of(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def new_case(
    client: httpx.AsyncClient, tenant: Any, *debts: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    resp = await client.post("/v1/cases", json=case_body(None, *debts, **extra), headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def issue(client: httpx.AsyncClient, tenant: Any, case_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"/v1/cases/{case_id}/links", json=body, headers=tenant.headers)


async def new_link(
    client: httpx.AsyncClient,
    tenant: Any,
    *debts: dict[str, Any],
    case_extra: dict[str, Any] | None = None,
    **body: Any,
) -> dict[str, Any]:
    case = await new_case(client, tenant, *debts, **(case_extra or {}))
    resp = await issue(client, tenant, case["id"], **body)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def read_link(client: httpx.AsyncClient, tenant: Any, link_id: str) -> dict[str, Any]:
    resp = await client.get(f"/v1/links/{link_id}", headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def verify(browser: httpx.AsyncClient, link: dict[str, Any], answer: str = ID_LAST4) -> httpx.Response:
    """Open the page and answer the identity check, as a borrower would."""
    page = await browser.get(path_of(link["url"]))
    assert page.status_code == 200, page.text
    return await browser.post(
        f"{path_of(link['url'])}/verify", data={"last4": answer, "_csrf_token": csrf_of(page.text)}
    )


async def pass_check(
    browser: httpx.AsyncClient, link: dict[str, Any], answer: str = ID_LAST4
) -> httpx.Response:
    """Answer right and return the page that shows what is due."""
    resp = await verify(browser, link, answer)
    assert resp.status_code == 303, resp.text
    page = await browser.get(path_of(link["url"]))
    assert page.status_code == 200, page.text
    return page


async def start(
    browser: httpx.AsyncClient,
    link: dict[str, Any],
    amount: str,
    channel: str,
    page: httpx.Response | None = None,
) -> httpx.Response:
    page = page or await browser.get(path_of(link["url"]))
    return await browser.post(
        f"{path_of(link['url'])}/start",
        data={"amount": amount, "channel": channel, "_csrf_token": csrf_of(page.text)},
    )


async def set_link(services: Services, link_id: str, **values: Any) -> None:
    async with services.db.transaction() as session:
        await session.execute(update(Link).where(Link.id == link_id).values(**values))


async def set_identity_check(services: Services, client_id: str, check: str) -> None:
    async with services.db.transaction() as session:
        await session.execute(update(Client).where(Client.id == client_id).values(identity_check=check))


async def drain(services: Services, rail: str) -> None:
    await asyncio.wait_for(services.rails.sandboxes[rail].sender.drain(), timeout=20)
    await asyncio.wait_for(services.applier.drain(), timeout=20)


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def two_debts() -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        debt("D1", "2024-01-31", principal="600.00", interest="50.00", fees="20.00"),
        debt("D2", "2024-03-31", principal="300.00"),
    )
