"""The aggregated QR: inside Alipay only Alipay, inside WeChat only WeChat Pay, elsewhere every allowed channel."""

from __future__ import annotations

import re

from tests.links.conftest import ALIPAY_UA, WECHAT_UA, new_link, pass_check

CHANNEL_BUTTON = re.compile(r'<button type="submit" name="channel" value="([a-z]+)"')


async def _buttons(browser, link, user_agent: str | None = None) -> list[str]:
    if user_agent:
        browser.headers["User-Agent"] = user_agent
    page = await pass_check(browser, link)
    return CHANNEL_BUTTON.findall(page.text)


async def test_inside_alipay_only_alipay_is_offered(client, tenant, browser):
    link = await new_link(client, tenant)
    assert await _buttons(browser, link, ALIPAY_UA) == ["alipay"]


async def test_inside_wechat_only_wechat_pay_is_offered(client, tenant, browser):
    link = await new_link(client, tenant)
    assert await _buttons(browser, link, WECHAT_UA) == ["wechatpay"]


async def test_a_desktop_browser_is_offered_every_allowed_channel(client, tenant, browser):
    link = await new_link(client, tenant)
    assert await _buttons(browser, link) == ["alipay", "wechatpay", "bankcard"]


async def test_a_desktop_browser_is_offered_only_the_links_channels(client, tenant, browser):
    link = await new_link(client, tenant, channels=["wechatpay", "bankcard"])
    assert await _buttons(browser, link) == ["wechatpay", "bankcard"]


async def test_a_mobile_browser_is_offered_every_allowed_channel(client, tenant, browser):
    link = await new_link(client, tenant)
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
    assert await _buttons(browser, link, ua) == ["alipay", "wechatpay", "bankcard"]


async def test_channel_names_are_shown_in_chinese(client, tenant, browser):
    link = await new_link(client, tenant)
    page = await pass_check(browser, link)
    assert re.findall(r'class="(?:alipay|wechatpay|bankcard)">([^<]+)</button>', page.text) == [
        "支付宝",
        "微信支付",
        "银行卡",
    ]


async def test_a_channel_the_link_does_not_allow_is_refused(client, tenant, browser):
    link = await new_link(client, tenant, channels=["wechatpay"])
    page = await pass_check(browser, link)
    from tests.links.conftest import start

    resp = await start(browser, link, "1000.00", "alipay", page)
    assert resp.status_code == 422
    assert '<p class="error" role="alert">此链接不支持该支付方式，请选择其他方式。</p>' in resp.text
