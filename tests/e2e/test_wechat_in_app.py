"""WeChat Pay inside WeChat's browser: pay page -> silent web OAuth (the sandbox's authorize) -> JSAPI
order -> our page calls WeixinJSBridge (in the sandbox, its stand-in, which checks paySign and opens
the sandbox's pay sheet) -> the tester pays -> back on our page -> receipt once notified.
The payer's openid must show in no URL, no page and no log line; nor must the OAuth code in a log."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import httpx
import pytest

pytest.importorskip("playwright.async_api", reason="browser tests need the playwright package")

from playwright.async_api import Page, Request, expect

from payments.domain.money import format_yuan
from providers.base import BEIJING
from providers.simulator import SandboxOptions
from providers.wechatpay.client import WechatPayProvider
from providers.wechatpay.sandbox import build_sandbox
from tests.e2e.conftest import TOTAL_FEN, WECHAT_UA, NewContext, Server, Shot, make_link
from tests.e2e.flow import (
    ZH,
    check_due,
    choose,
    expect_receipt,
    paid_through_link,
    pass_identity_after_one_miss,
    path_of,
)

pytestmark = pytest.mark.browser

PAID_FEN = 30_000
PAID = format_yuan(PAID_FEN)
REMAINING_FEN = TOTAL_FEN - PAID_FEN
SHEET_PATH = "/sandbox/wechatpay/jsapi/pay"


async def _openid_of(server: Server, out_trade_no: str) -> str:
    """The payer's openid as WeChat's trade bill lists it: the one place a merchant sees it."""
    options = SandboxOptions(
        data_dir=Path(server.log_path).parent / "sandbox", public_base_url=server.base_url
    )
    config, _ = build_sandbox(options, httpx.AsyncClient)  # the server's own keys, already on disk
    async with httpx.AsyncClient(timeout=10) as http:
        bill = await WechatPayProvider(config, http).fetch_statement(datetime.now(BEIJING).date())
    rows = list(csv.reader(io.StringIO(bill.decode("utf-8-sig"))))
    header = rows[0]
    row = next(
        r for r in rows[1:] if len(r) == len(header) and r[header.index("商户订单号")] == f"`{out_trade_no}"
    )
    return row[header.index("用户标识")].lstrip("`")


async def _to_the_sheet(page: Page, link, shot: Shot) -> None:
    await pass_identity_after_one_miss(page, link, shot)
    await check_due(page, shot)
    await choose(page, shot, PAID, "wechatpay")
    # Silent OAuth, the JSAPI order, then our page's script opens the pay sheet by itself.
    await page.wait_for_url(f"**{SHEET_PATH}")
    await expect(page.locator("#via")).to_contain_text("paySign verified")
    await expect(page.locator(".amount")).to_have_text(f"¥{PAID}")


async def test_inside_wechat_oauth_and_the_bridge_lead_to_a_receipt(
    new_context: NewContext, api, server: Server, shot: Shot
) -> None:
    link = await make_link(api)
    context = await new_context(user_agent=WECHAT_UA)
    urls: list[str] = []
    context.on("request", lambda request: urls.append(request.url))
    page = await context.new_page()
    await _to_the_sheet(page, link, shot)
    await shot(page, "05-wechat-pay-sheet")

    await page.get_by_role("button", name="支付成功").click()
    await page.wait_for_url(f"**/pay/{link.token}/orders/ord_*")
    shown = await expect_receipt(page, "wechatpay", PAID_FEN, REMAINING_FEN)
    await shot(page, "06-receipt")
    assert await paid_through_link(api, link) == PAID_FEN

    # It went through WeChat's OAuth and back, and the openid stayed on the servers.
    assert any(path_of(u) == "/sandbox/wechatpay/connect/oauth2/authorize" for u in urls)
    returns = [u for u in urls if f"/pay/{link.token}/in-app/wechatpay?" in u]
    assert len(returns) == 1
    code = httpx.URL(returns[0]).params["code"]
    openid = await _openid_of(server, shown[ZH["reference"]])
    assert openid.startswith("o") and len(openid) == 28
    assert not [u for u in urls if openid in u]
    assert openid not in await page.content()
    log = server.log_text()
    assert code not in log and openid not in log


async def test_back_on_the_order_page_the_sheet_stays_shut_until_tapped(
    new_context: NewContext, api, shot: Shot
) -> None:
    link = await make_link(api)
    page = await (await new_context(user_agent=WECHAT_UA)).new_page()
    await _to_the_sheet(page, link, shot)

    # Closing the sheet unpaid: our page again, which must not reopen the sheet by itself.
    await page.get_by_role("link", name="取消支付").click()
    await page.wait_for_url(f"**/pay/{link.token}/orders/ord_*")
    button = page.locator("[data-wx-pay]")
    await expect(button).to_be_visible()
    await expect(button).to_have_text(ZH["wx_pay"])
    await expect(page.locator("[data-wx-hint]")).to_have_text(ZH["wx_waiting"])
    await page.wait_for_timeout(1_000)
    assert f"/pay/{link.token}/orders/" in page.url
    await shot(page, "05-order-page")

    async with page.expect_request(lambda r: path_of(r.url) == SHEET_PATH) as opened:
        await button.click()
    sheet: Request = await opened.value
    assert sheet.method == "POST"
    await expect(page.locator("#via")).to_contain_text("paySign verified")
    await shot(page, "06-wechat-pay-sheet")
    await page.get_by_role("button", name="支付成功").click()
    await expect_receipt(page, "wechatpay", PAID_FEN, REMAINING_FEN)
    await shot(page, "07-receipt")
