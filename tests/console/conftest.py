"""Helpers for the console tests: staff users, a logged-in browser per user, and review items made the
way the matching job makes them (a payment in review plus its item), on cases made through the API."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import AuditEvent, Payment
from payments.persistence.tables_recon import BankAccount, BankLine, ReviewItem
from payments.services.container import Services
from payments.services.staff import StaffRole, StaffService
from tests.api.conftest import case_body, debt

BASE = "http://testserver.local"
PASSWORD = "correct horse battery staple"
PAYER_NAME = "李小四"
PAYER_ACCOUNT = "6222020200112233445"
MEMO = "还款 李小四 13912345678"
_ips = itertools.count(1)


def csrf_of(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


@dataclass
class StaffLogin:
    username: str
    password: str
    user_id: str
    totp_secret: str | None


def accounts(services: Services) -> StaffService:
    return StaffService(services.db, services.pii, services.settings.console, services.web_secret)


async def add_staff(
    services: Services,
    role: str = "clerk",
    client_id: str | None = None,
    *,
    reveal: bool = False,
    totp: bool = False,
) -> StaffLogin:
    username = f"{role}-{uuid.uuid4().hex[:10]}"
    user_id, secret = await accounts(services).create_user(
        username, PASSWORD, StaffRole(role), client_id=client_id, can_reveal=reveal, totp=totp
    )
    return StaffLogin(username, PASSWORD, user_id, secret)


NewBrowser = Callable[[], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def new_browser(
    client: httpx.AsyncClient, app_holder: dict[str, Litestar]
) -> AsyncIterator[NewBrowser]:
    """Browsers with their own cookies and their own address (the app is started by `client`)."""
    opened: list[httpx.AsyncClient] = []

    async def open_one() -> httpx.AsyncClient:
        n = next(_ips)
        transport = httpx.ASGITransport(
            app=app_holder["app"], client=(f"10.88.{n // 250}.{n % 250 + 1}", 40000)
        )
        browser = httpx.AsyncClient(transport=transport, base_url=BASE)
        opened.append(browser)
        return browser

    yield open_one
    for b in opened:
        await b.aclose()


async def login(browser: httpx.AsyncClient, user: StaffLogin, password: str | None = None) -> httpx.Response:
    page = await browser.get("/console/login")
    assert page.status_code == 200, page.text
    return await browser.post(
        "/console/login",
        data={
            "username": user.username,
            "password": password or user.password,
            "_csrf_token": csrf_of(page.text),
        },
    )


async def logged_in(new_browser: NewBrowser, user: StaffLogin) -> httpx.AsyncClient:
    browser = await new_browser()
    resp = await login(browser, user)
    assert resp.status_code == 303 and resp.headers["location"] == "/console/queue", resp.text
    return browser


async def post_form(
    browser: httpx.AsyncClient, page_url: str, action: str, data: dict[str, Any]
) -> httpx.Response:
    """Submit a form the way a person would: open the page first, then post with its CSRF token."""
    page = await browser.get(page_url)
    assert page.status_code == 200, page.text[:2000]
    return await browser.post(action, data={**data, "_csrf_token": csrf_of(page.text)})


async def new_case(client: httpx.AsyncClient, tenant: Any, *debts: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/v1/cases", json=case_body(None, *debts), headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


def candidate(case_ids: list[str], score: int = 80, *codes: str) -> dict[str, Any]:
    labels = {
        "reference_in_memo": "reference in memo / 附言含案件号",
        "name_pinyin": "name matches in pinyin / 姓名拼音相符",
        "amount_equals_balance": "amount equals balance / 金额等于欠款",
    }
    chosen = codes or ("reference_in_memo", "name_pinyin")
    return {
        "case_ids": case_ids,
        "debtor_id": "dr_x",
        "score": score,
        "criteria": [{"code": c, "label": labels[c], "weight": 30} for c in chosen],
        "active": True,
    }


async def review_item(
    services: Services,
    client_id: str,
    amount_fen: int,
    candidates: list[dict[str, Any]] | None = None,
    *,
    provider: str = "bank_transfer",
    age_days: float = 0,
    with_bank_line: bool = False,
) -> ReviewItem:
    now = utcnow()
    received = now - timedelta(days=age_days)
    payment_id = new_id("pay")
    async with services.db.transaction() as session:
        session.add(
            Payment(
                id=payment_id,
                client_id=client_id,
                provider=provider,
                provider_txn_id=f"T{uuid.uuid4().hex[:20]}",
                out_trade_no=None,
                amount_fen=amount_fen,
                currency="CNY",
                source="bank_import",
                status="review",
                order_id=None,
                case_id=None,
                unapplied_fen=amount_fen,
                received_at=received,
                created_at=now,
            )
        )
        await session.flush()
        if with_bank_line:
            account_id = new_id("bac")
            session.add(
                BankAccount(
                    id=account_id,
                    client_id=client_id,
                    code=f"ACC-{uuid.uuid4().hex[:8]}",
                    name="collection",
                    account_tail="0001",
                    currency="CNY",
                    created_at=now,
                )
            )
            await session.flush()
            line_id = new_id("bln")
            enc = services.pii.encrypt
            session.add(
                BankLine(
                    id=line_id,
                    account_id=account_id,
                    client_id=client_id,
                    bank_ref=f"R{uuid.uuid4().hex[:12]}",
                    booked_on=date.today(),
                    booked_at=received,
                    amount_fen=amount_fen,
                    currency="CNY",
                    memo_enc=enc(MEMO, column="bank_lines.memo", row_id=line_id),
                    payer_name_enc=enc(PAYER_NAME, column="bank_lines.payer_name", row_id=line_id),
                    payer_account_enc=enc(PAYER_ACCOUNT, column="bank_lines.payer_account", row_id=line_id),
                    payer_account_bidx=None,
                    key_id=services.pii.keyring.active,
                    source_format="csv",
                    payment_id=payment_id,
                    created_at=now,
                )
            )
        item = ReviewItem(
            id=new_id("rvw"),
            client_id=client_id,
            payment_id=payment_id,
            amount_fen=amount_fen,
            provider=provider,
            received_at=received,
            reason="several_qualify",
            candidates=candidates or [],
            status="open",
            resolution=None,
            resolved_by=None,
            resolved_at=None,
            created_at=now,
            updated_at=now,
        )
        session.add(item)
    return item


async def audit_count(services: Services, action: str, entity_id: str | None = None) -> int:
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    async with services.db.sessions() as session:
        return int(await session.scalar(query) or 0)


async def item_row(services: Services, item_id: str) -> ReviewItem:
    async with services.db.sessions() as session:
        return await session.get_one(ReviewItem, item_id)


ONE_DEBT = debt("D1", "2024-01-31", principal="1000.00", interest="50.00", fees="20.00")
