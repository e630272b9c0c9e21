"""English: chosen by Accept-Language, or by the toggle link (which sticks for the next pages)."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("playwright.async_api", reason="browser tests need the playwright package")

from playwright.async_api import expect

from tests.e2e.conftest import NewContext, Shot, make_link
from tests.e2e.flow import EN, RIGHT, ZH, answer_identity, check_due, open_link, pass_identity_after_one_miss

pytestmark = pytest.mark.browser


async def test_accept_language_en_gets_english_pages(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot
) -> None:
    link = await make_link(api)
    page = await (await new_context(locale="en-US", accept_language="en-US,en;q=0.9")).new_page()
    await pass_identity_after_one_miss(page, link, shot, EN)
    await check_due(page, shot, EN)
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("header h1")).to_have_text(EN["title"])
    await expect(page.locator("header a")).to_have_text(EN["lang_switch"])
    await expect(page.locator("button[name=channel]")).to_have_text(
        [EN["alipay"], EN["wechatpay"], EN["bankcard"]]
    )


async def test_the_language_link_switches_to_english_and_it_sticks(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot
) -> None:
    link = await make_link(api)
    page = await (await new_context()).new_page()
    await open_link(page, link, ZH)
    await shot(page, "01-chinese")
    await page.get_by_role("link", name=ZH["lang_switch"]).click()  # "English"
    await expect(page.locator("h2")).to_have_text(EN["verify_title"])
    await shot(page, "02-english")
    # The choice is kept: after the check (a redirect without ?lang) the page is still English.
    await answer_identity(page, RIGHT)
    await expect(page.locator("h2").first).to_have_text(EN["due"])
    await check_due(page, shot, EN)
    # And back.
    await page.get_by_role("link", name=EN["lang_switch"]).click()  # "中文"
    await expect(page.locator("h2").first).to_have_text(ZH["due"])
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await shot(page, "05-back-to-chinese")
