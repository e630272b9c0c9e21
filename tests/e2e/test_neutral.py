"""An expired, a revoked and a tampered link all get one and the same neutral page: nothing to learn."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

pytest.importorskip("playwright.async_api", reason="browser tests need the playwright package")

from playwright.async_api import Page, expect

from tests.e2e.conftest import CREDITOR, NewContext, Shot, make_link
from tests.e2e.flow import (
    RIGHT,
    ZH,
    answer_identity,
    open_link,
    pass_identity_after_one_miss,
    path_of,
)

pytestmark = pytest.mark.browser

UNKNOWN_TOKEN = "A" * 43


async def neutral_view(page: Page, url: str) -> tuple[int, str]:
    """(status, visible text of the page body) for `url`."""
    response = await page.goto(url)
    assert response is not None
    return response.status, await page.locator("main").inner_text()


async def assert_neutral(page: Page, url: str) -> None:
    status, shown = await neutral_view(page, url)
    await expect(page.locator("h2")).to_have_text(ZH["neutral_title"])
    assert ZH["neutral_body"] in shown
    assert CREDITOR not in shown
    # The same status and the same words as a token that never existed.
    probe = await page.context.new_page()
    try:
        unknown = f"{url.split('/pay/')[0]}/pay/{UNKNOWN_TOKEN}"
        assert (status, shown) == await neutral_view(probe, unknown)
    finally:
        await probe.close()
    assert status == 404


async def test_an_expired_link_shows_the_neutral_page(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot
) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=3)
    link = await make_link(api, expires_at=expires)
    page = await (await new_context()).new_page()
    await open_link(page, link)  # still good
    await shot(page, "01-before-expiry")
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.5)
    await assert_neutral(page, link.url)
    await shot(page, "02-expired")


async def test_a_revoked_link_shows_the_neutral_page_even_after_the_identity_check(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot
) -> None:
    link = await make_link(api)
    page = await (await new_context()).new_page()
    await pass_identity_after_one_miss(page, link, shot)
    resp = await api.post(f"/v1/links/{link.id}/revoke", json={"reason": "case recalled"})
    assert resp.status_code == 200, resp.text
    await assert_neutral(page, link.url)
    await shot(page, "03-revoked")


async def test_a_tampered_token_shows_the_neutral_page(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot
) -> None:
    link = await make_link(api)
    last = link.token[-1]
    tampered = link.url[:-1] + ("B" if last != "B" else "C")
    page = await (await new_context()).new_page()
    await assert_neutral(page, tampered)
    await shot(page, "01-tampered")
    # Posting an answer through a tampered form action gets the very same page.
    await open_link(page, link)
    await page.locator("form").evaluate(
        "(form, action) => form.setAttribute('action', action)", f"{path_of(tampered)}/verify"
    )
    await answer_identity(page, RIGHT)
    await expect(page.locator("h2")).to_have_text(ZH["neutral_title"])
    await shot(page, "02-tampered-post")
