"""The whole path for each channel: link -> identity check -> amount -> channel -> sandbox cashier ->
pay -> back on our order page -> receipt once the server has the provider's notification -> print."""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.async_api", reason="browser tests need the playwright package")

from playwright.async_api import Request, expect

from payments.domain.money import format_yuan
from tests.e2e.conftest import (
    DESKTOP_UA,
    DESKTOP_VIEWPORT,
    TOTAL_FEN,
    NewContext,
    Server,
    Shot,
    make_link,
)
from tests.e2e.flow import (
    ZH,
    check_due,
    check_printable,
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


async def test_alipay_on_a_phone_redirects_to_the_cashier_and_back_to_a_receipt(
    new_context: NewContext, api, shot: Shot
) -> None:
    link = await make_link(api)
    page = await (await new_context()).new_page()
    await pass_identity_after_one_miss(page, link, shot)
    await check_due(page, shot)
    await choose(page, shot, PAID, "alipay")

    # The mobile (WAP) flow: a redirect to the sandbox gateway, which shows its cashier.
    await expect(page.locator("header")).to_contain_text("支付宝 沙箱收银台")
    assert path_of(page.url) == "/sandbox/alipay/gateway.do"
    await expect(page.locator(".amount")).to_have_text(f"¥{PAID}")
    await shot(page, "05-cashier")
    await page.get_by_role("button", name="确认付款").click()

    # Back on our page (Alipay's return_url); the receipt shows once the notification is in.
    await page.wait_for_url(f"**/pay/{link.token}/orders/latest*")
    await expect_receipt(page, "alipay", PAID_FEN, REMAINING_FEN)
    await shot(page, "06-receipt")
    await check_printable(page, shot, "07-print")
    assert await paid_through_link(api, link) == PAID_FEN


async def test_alipay_on_a_desktop_shows_a_qr_and_the_sandbox_cashier(
    new_context: NewContext, api, shot: Shot
) -> None:
    link = await make_link(api)
    context = await new_context(user_agent=DESKTOP_UA, viewport=DESKTOP_VIEWPORT)
    page = await context.new_page()
    await pass_identity_after_one_miss(page, link, shot)
    await check_due(page, shot)
    await choose(page, shot, PAID, "alipay")

    await page.wait_for_url(f"**/pay/{link.token}/orders/*")
    await expect(page.locator(".qr svg")).to_be_visible()
    await expect(page.get_by_text(ZH["scan"].format(channel=ZH["alipay"]))).to_be_visible()
    await shot(page, "05-qr")

    # The tester opens the cashier (in a new tab) instead of scanning; this page keeps waiting.
    async with context.expect_page() as opened:
        await page.get_by_role("link", name="sandbox cashier").click()
    cashier = await opened.value
    await expect(cashier.locator("header")).to_contain_text("支付宝 沙箱收银台")
    await expect(cashier.locator(".amount")).to_have_text(f"¥{PAID}")
    await shot(cashier, "06-cashier")
    await cashier.get_by_role("button", name="确认付款").click()
    await expect(cashier.get_by_text("TRADE_SUCCESS")).to_be_visible()
    await shot(cashier, "07-cashier-paid")

    await expect_receipt(page, "alipay", PAID_FEN, REMAINING_FEN)
    await shot(page, "08-receipt")
    await check_printable(page, shot, "09-print")


async def test_wechatpay_on_a_desktop_shows_a_qr_and_the_sandbox_cashier(
    new_context: NewContext, api, shot: Shot
) -> None:
    link = await make_link(api)
    context = await new_context(user_agent=DESKTOP_UA, viewport=DESKTOP_VIEWPORT)
    page = await context.new_page()
    await pass_identity_after_one_miss(page, link, shot)
    await check_due(page, shot)
    await choose(page, shot, PAID, "wechatpay")

    await page.wait_for_url(f"**/pay/{link.token}/orders/*")
    await expect(page.locator(".qr svg")).to_be_visible()
    await expect(page.get_by_text(ZH["scan"].format(channel=ZH["wechatpay"]))).to_be_visible()
    await shot(page, "05-qr")

    async with context.expect_page() as opened:
        await page.get_by_role("link", name="sandbox cashier").click()
    cashier = await opened.value
    await expect(cashier.locator("h1")).to_contain_text("微信支付 沙箱收银台")
    await expect(cashier.locator(".amount")).to_have_text(f"¥{PAID}")
    await shot(cashier, "06-cashier")
    await cashier.get_by_role("button", name="支付成功").click()
    await expect(cashier.get_by_text("SUCCESS")).to_be_visible()
    await shot(cashier, "07-cashier-paid")

    await expect_receipt(page, "wechatpay", PAID_FEN, REMAINING_FEN)
    await shot(page, "08-receipt")
    await check_printable(page, shot, "09-print")
    assert await paid_through_link(api, link) == PAID_FEN


async def test_wechatpay_on_a_phone_redirects_to_h5_and_back_to_a_receipt(
    new_context: NewContext, api, shot: Shot
) -> None:
    link = await make_link(api)
    page = await (await new_context()).new_page()
    await pass_identity_after_one_miss(page, link, shot)
    await check_due(page, shot)
    await choose(page, shot, PAID, "wechatpay")

    # H5: WeChat's page, which sends the browser back to our redirect_url when it is done.
    await expect(page.locator("h1")).to_contain_text("微信支付 沙箱收银台")
    assert path_of(page.url).startswith("/sandbox/wechatpay/cashier/")
    await expect(page.locator(".amount")).to_have_text(f"¥{PAID}")
    await shot(page, "05-cashier")
    await page.get_by_role("button", name="支付成功").click()

    await page.wait_for_url(f"**/pay/{link.token}/orders/latest*")
    await expect_receipt(page, "wechatpay", PAID_FEN, REMAINING_FEN)
    await shot(page, "06-receipt")
    await check_printable(page, shot, "07-print")


CARD_NO = "6216610200016587010"


async def test_bankcard_goes_to_the_hosted_card_page_and_never_sends_card_data_to_us(
    new_context: NewContext, api, server: Server, shot: Shot
) -> None:
    link = await make_link(api)
    page = await (await new_context()).new_page()
    carried_card: list[str] = []

    def watch(request: Request) -> None:
        if CARD_NO in request.url or CARD_NO in (request.post_data or ""):
            carried_card.append(f"{request.method} {path_of(request.url)}")

    page.on("request", watch)
    await pass_identity_after_one_miss(page, link, shot)
    await check_due(page, shot)
    await choose(page, shot, PAID, "bankcard")

    # Our page posts the signed form by itself; the bank's card page (here the sandbox) takes the card.
    await page.wait_for_url("**/sandbox/bankcard/cashier/*")
    await expect(page.locator(".amount")).to_have_text(f"¥{PAID}")
    await page.locator("input[name=cardNo]").fill(CARD_NO)
    await page.locator("input[name=expired]").fill("1230")
    await page.locator("input[name=cvn2]").fill("123")
    await shot(page, "05-card-page")
    await page.get_by_role("button", name="支付成功").click()

    await page.wait_for_url(f"**/pay/{link.token}/orders/latest*")
    await expect_receipt(page, "bankcard", PAID_FEN, REMAINING_FEN)
    await shot(page, "06-receipt")
    await check_printable(page, shot, "07-print")

    # The card number went to the bank's page only: never to the pay page, notify or API, never logged.
    assert carried_card and all(c.startswith("POST /sandbox/bankcard/cashier/") for c in carried_card), (
        carried_card
    )
    assert CARD_NO not in server.log_text()
