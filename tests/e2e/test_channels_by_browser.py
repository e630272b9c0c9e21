"""Which pay buttons a browser gets: inside Alipay only Alipay, inside WeChat only WeChat Pay,
anywhere else every channel the link allows."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("playwright.async_api", reason="browser tests need the playwright package")

from playwright.async_api import expect

from tests.e2e.conftest import (
    ALIPAY_UA,
    DESKTOP_UA,
    DESKTOP_VIEWPORT,
    WECHAT_UA,
    NewContext,
    Shot,
    make_link,
)
from tests.e2e.flow import RIGHT, ZH, answer_identity, open_link

pytestmark = pytest.mark.browser


async def buttons_for(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot, **context: object
) -> list[str]:
    link = await make_link(api)
    page = await (await new_context(**context)).new_page()
    await open_link(page, link)
    await answer_identity(page, RIGHT)
    await expect(page.locator("h2").first).to_have_text(ZH["due"])
    await shot(page, "01-channels")
    buttons = page.locator("button[name=channel]")
    values = [await b.get_attribute("value") or "" for b in await buttons.all()]
    labels = [t.strip() for t in await buttons.all_inner_texts()]
    assert labels == [ZH[v] for v in values]
    return values


async def test_inside_alipay_only_alipay_is_offered(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot
) -> None:
    assert await buttons_for(new_context, api, shot, user_agent=ALIPAY_UA) == ["alipay"]


async def test_inside_wechat_only_wechatpay_is_offered(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot
) -> None:
    assert await buttons_for(new_context, api, shot, user_agent=WECHAT_UA) == ["wechatpay"]


async def test_a_desktop_browser_gets_every_channel(
    new_context: NewContext, api: httpx.AsyncClient, shot: Shot
) -> None:
    values = await buttons_for(new_context, api, shot, user_agent=DESKTOP_UA, viewport=DESKTOP_VIEWPORT)
    assert values == ["alipay", "wechatpay", "bankcard"]
