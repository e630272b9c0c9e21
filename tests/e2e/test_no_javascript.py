"""With JavaScript off the whole path still works: forms post, the order page refreshes itself
(meta refresh) until the receipt shows, and the bank-card hand-off is a button to press."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("playwright.async_api", reason="browser tests need the playwright package")

from playwright.async_api import expect

from payments.domain.money import format_yuan
from tests.e2e.conftest import DESKTOP_UA, TOTAL_FEN, NewContext, Shot, make_link
from tests.e2e.flow import (
    ZH,
    check_due,
    choose,
    expect_receipt,
    pass_identity_after_one_miss,
)

pytestmark = pytest.mark.browser

PAID_FEN = 12_345


async def test_without_javascript_a_qr_payment_ends_on_the_receipt(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot
) -> None:
    link = await make_link(api)
    context = await new_context(user_agent=DESKTOP_UA, javascript=False)
    page = await context.new_page()
    await pass_identity_after_one_miss(page, link, shot)
    await check_due(page, shot)
    await choose(page, shot, format_yuan(PAID_FEN), "wechatpay")

    await page.wait_for_url(f"**/pay/{link.token}/orders/*")
    await expect(page.locator(".qr svg")).to_be_visible()
    await expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(1)
    await shot(page, "05-qr")

    # Pay in another tab (the sandbox cashier works without scripts too) ...
    async with context.expect_page() as opened:
        await page.get_by_role("link", name="sandbox cashier").click()
    cashier = await opened.value
    await cashier.get_by_role("button", name="支付成功").click()
    await expect(cashier.get_by_text("SUCCESS")).to_be_visible()
    await shot(cashier, "06-cashier-paid")

    # ... and this one refreshes itself into the receipt.
    await expect_receipt(page, "wechatpay", PAID_FEN, TOTAL_FEN - PAID_FEN)
    await expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
    # The print button needs a script: without one it is not offered.
    await expect(page.locator("[data-print]")).to_be_hidden()
    await shot(page, "07-receipt")


async def test_without_javascript_the_card_hand_off_is_a_button(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot
) -> None:
    link = await make_link(api)
    page = await (await new_context(javascript=False)).new_page()
    await pass_identity_after_one_miss(page, link, shot)
    await choose(page, shot, format_yuan(PAID_FEN), "bankcard")

    # The form is not posted by itself: the borrower reads the note and presses the button.
    await expect(page.locator("main")).to_contain_text(ZH["card_redirect"])
    await shot(page, "05-hand-off")
    await page.get_by_role("button", name=ZH["go_to_bank"]).click()
    await page.wait_for_url("**/sandbox/bankcard/cashier/*")
    await expect(page.locator(".amount")).to_have_text(f"¥{format_yuan(PAID_FEN)}")
    await page.get_by_role("button", name="支付成功").click()
    await page.wait_for_url(f"**/pay/{link.token}/orders/latest*")
    await expect_receipt(page, "bankcard", PAID_FEN, TOTAL_FEN - PAID_FEN)
    await shot(page, "06-receipt")
