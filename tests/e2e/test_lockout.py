"""Five wrong answers lock the link for 30 minutes; during the lock even the right answer is refused."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("playwright.async_api", reason="browser tests need the playwright package")

from playwright.async_api import Page, expect

from tests.api.conftest import MASKED_NAME
from tests.e2e.conftest import CREDITOR, NewContext, Shot, make_link
from tests.e2e.flow import RIGHT, WRONG, ZH, answer_identity, open_link

pytestmark = pytest.mark.browser


async def lock_with_five_wrong_answers(page: Page, shot: Shot) -> None:
    for left in (4, 3, 2, 1):
        await answer_identity(page, WRONG)
        await expect(page.locator(".error")).to_have_text(ZH["wrong"].format(left=left))
    await shot(page, "02-one-try-left")
    async with page.expect_response(lambda r: r.url.endswith("/verify")) as answered:
        await answer_identity(page, WRONG)
    assert (await answered.value).status == 429
    await expect(page.locator("h2")).to_have_text(ZH["locked_title"])


async def assert_locked_page(page: Page) -> None:
    await expect(page.locator("h2")).to_have_text(ZH["locked_title"])
    await expect(page.locator("main")).to_contain_text(ZH["locked_body"])
    await expect(page.locator("#last4")).to_have_count(0)
    shown = await page.locator("main").inner_text()
    assert CREDITOR not in shown and MASKED_NAME not in shown


async def test_five_wrong_answers_lock_the_link(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot
) -> None:
    link = await make_link(api)
    page = await (await new_context()).new_page()
    await open_link(page, link)
    await shot(page, "01-verify")
    await lock_with_five_wrong_answers(page, shot)
    await assert_locked_page(page)
    await shot(page, "03-locked")
    # Opening the link again, even from another browser, shows the locked page.
    other = await (await new_context()).new_page()
    response = await other.goto(link.url)
    assert response is not None and response.status == 429
    await assert_locked_page(other)
    await shot(other, "04-locked-elsewhere")


async def test_the_right_answer_is_refused_during_the_lock(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot
) -> None:
    link = await make_link(api)
    context = await new_context()
    # A second tab that loaded the form before the lock, to submit the right answer during it.
    waiting = await context.new_page()
    await open_link(waiting, link)
    page = await context.new_page()
    await open_link(page, link)
    await lock_with_five_wrong_answers(page, shot)

    await answer_identity(waiting, RIGHT)
    await assert_locked_page(waiting)
    await shot(waiting, "03-right-answer-refused")
    # No identity pass came of it: the link itself still shows the locked page, not the amounts.
    await waiting.goto(link.url)
    await assert_locked_page(waiting)
    await shot(waiting, "04-still-locked")
