"""Console pages carry a strict CSP, and what payers write (memo, name) is shown escaped."""

from __future__ import annotations

import re

from sqlalchemy import select

from payments.persistence.tables_recon import ReviewItem
from payments.services.container import Services
from reconciliation.matching import match_unreferenced
from tests.console.conftest import NewBrowser, add_staff, logged_in
from tests.matching.conftest import line, payments_of_client, transfer

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


async def test_every_console_page_sends_a_csp_without_inline_script_or_style(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))

    for path in (
        "/console/login",
        "/console/queue",
        "/console/exceptions",
        "/console/reports",
        "/console/webhooks",
    ):
        resp = await browser.get(path)
        csp = resp.headers.get("content-security-policy", "")
        assert "default-src 'none'" in csp and "script-src 'self'" in csp, (path, csp)
        assert "unsafe-inline" not in csp, path
        assert not re.search(r"<script(?![^>]*\bsrc=)", resp.text), path  # no inline script element


async def test_markup_in_a_transfers_memo_is_shown_escaped(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    await transfer(services, tenant, line(4_321, memo=HOSTILE, payer_name="测试甲"))
    await match_unreferenced(services, client_id=tenant.client_id)
    [payment] = await payments_of_client(services, tenant)
    async with services.db.sessions() as session:
        item_id = await session.scalar(select(ReviewItem.id).where(ReviewItem.payment_id == payment.id))
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id, reveal=True))

    page = await browser.get(f"/console/queue/{item_id}")

    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)" in page.text  # the memo is shown, as text
