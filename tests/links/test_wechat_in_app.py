"""Inside WeChat's browser WeChat Pay goes through web OAuth (snsapi_base) for the payer's openid, then
a JSAPI order whose page calls WeixinJSBridge; the state is bound to this browser and link, and the
openid stays on the server. Outside WeChat nothing changes."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import unescape
from typing import Any

import httpx
from sqlalchemy import select

from payments.persistence.tables import Order
from providers.wechatpay import jsapi
from tests.links.conftest import (
    ALIPAY_UA,
    BASE,
    WECHAT_UA,
    drain,
    new_link,
    pass_check,
    path_of,
    start,
    token_of,
    two_debts,
)

AMOUNT = "300.00"
AUTHORIZE = f"{BASE}/sandbox/wechatpay/connect/oauth2/authorize"
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
)
RANGE = {"kind": "range", "min_amount": "100.00"}
_ips = itertools.count(1)


@asynccontextmanager
async def another_browser(app_holder: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """A second phone inside WeChat, with cookies and an address of its own."""
    n = next(_ips)
    transport = httpx.ASGITransport(app=app_holder["app"], client=(f"10.78.{n // 250}.{n % 250 + 1}", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers={"User-Agent": WECHAT_UA}) as b:
        yield b


async def _link(client, tenant) -> dict[str, Any]:
    return await new_link(client, tenant, *two_debts(), amount_policy=RANGE)


async def _start_in_wechat(browser: httpx.AsyncClient, link: dict[str, Any], amount: str = AMOUNT):
    browser.headers["User-Agent"] = WECHAT_UA
    page = await pass_check(browser, link)
    return await start(browser, link, amount, "wechatpay", page)


async def _oauth_return_url(browser: httpx.AsyncClient, link: dict[str, Any]) -> str:
    """Start inside WeChat and go through the sandbox's silent authorize: where WeChat sends us back."""
    resp = await _start_in_wechat(browser, link)
    assert resp.status_code == 303, resp.text
    authorized = await browser.get(resp.headers["location"])
    assert authorized.status_code == 302, authorized.text
    return path_of(authorized.headers["location"])


async def _orders_of(services, link: dict[str, Any]) -> list[Order]:
    async with services.db.sessions() as session:
        return list((await session.scalars(select(Order).where(Order.link_id == link["id"]))).all())


def _bridge(html: str) -> dict[str, str]:
    tag = re.search(r'<div id="wx-bridge"[^>]*>', html)
    assert tag, html
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tag.group(0)))
    names = {"app-id": "appId", "time-stamp": "timeStamp", "nonce-str": "nonceStr", "package": "package",
             "sign-type": "signType", "pay-sign": "paySign"}  # fmt: skip
    return {names[k]: unescape(v) for k, v in attrs.items() if k in names}


async def _jsapi_page(browser, link) -> httpx.Response:
    done = await browser.get(await _oauth_return_url(browser, link))
    assert done.status_code == 303, done.text
    page = await browser.get(done.headers["location"])
    assert page.status_code == 200, page.text
    return page


# ---- going through OAuth ---------------------------------------------------------------------------


async def test_inside_wechat_wechat_pay_goes_to_oauth_first(client, tenant, services, browser):
    link = await _link(client, tenant)
    resp = await _start_in_wechat(browser, link)
    assert resp.status_code == 303
    location = httpx.URL(resp.headers["location"])
    assert str(location.copy_with(query=None, fragment=None)) == AUTHORIZE
    assert location.fragment == "wechat_redirect"
    assert dict(location.params) == {
        "appid": services.rails.providers["wechatpay"].config.jsapi_appid,
        "redirect_uri": f"{BASE}/pay/{token_of(link)}/in-app/wechatpay",
        "response_type": "code",
        "scope": "snsapi_base",
        "state": location.params["state"],
    }
    assert re.fullmatch(r"[0-9a-f]{32}", location.params["state"])
    assert await _orders_of(services, link) == []  # no order until the openid is known


async def test_the_state_cookie_is_http_only_and_scoped_to_the_link(client, tenant, browser):
    link = await _link(client, tenant)
    resp = await _start_in_wechat(browser, link)
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith("payrecon_inapp="))
    state = httpx.URL(resp.headers["location"]).params["state"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and f"Path=/pay/{token_of(link)}" in cookie
    assert state in cookie  # bound to this state; the signature binds it to the link and amount


async def test_a_wrong_amount_is_refused_before_the_oauth_detour(client, tenant, browser):
    link = await _link(client, tenant)
    resp = await _start_in_wechat(browser, link, amount="1.00")
    assert resp.status_code == 422
    assert "location" not in resp.headers


async def test_the_oauth_return_makes_a_jsapi_order_and_goes_to_its_page(client, tenant, services, browser):
    link = await _link(client, tenant)
    done = await browser.get(await _oauth_return_url(browser, link))
    assert done.status_code == 303
    [order] = await _orders_of(services, link)
    assert done.headers["location"] == f"/pay/{token_of(link)}/orders/{order.id}"
    assert order.provider_ref.startswith("prepay_id=wx") and order.amount_fen == 30_000
    assert services.rails.sandboxes["wechatpay"].orders[order.out_trade_no].trade_type == "JSAPI"
    assert 'payrecon_inapp=""' in done.headers["set-cookie"] or "Max-Age=0" in done.headers["set-cookie"]


async def test_the_jsapi_page_carries_signed_bridge_parameters(client, tenant, services, browser):
    link = await _link(client, tenant)
    page = await _jsapi_page(browser, link)
    [order] = await _orders_of(services, link)
    params = _bridge(page.text)
    assert params["appId"] == services.rails.providers["wechatpay"].config.jsapi_appid
    assert (params["package"], params["signType"]) == (order.provider_ref, "RSA")
    sandbox = services.rails.sandboxes["wechatpay"]
    assert jsapi.check_bridge_params(sandbox.merchant_public_key, params) is None


async def test_the_jsapi_page_loads_only_our_scripts_and_does_not_refresh(client, tenant, browser):
    link = await _link(client, tenant)
    page = await _jsapi_page(browser, link)
    scripts = re.findall(r"<script([^>]*)>", page.text)
    # The sandbox's bridge stand-in first, then ours; nothing inline, as the CSP demands.
    assert scripts == [' src="/sandbox/wechatpay/jsapi/bridge.js" defer', ' src="/pay-static/pay.js" defer']
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'http-equiv="refresh"' not in page.text  # a reload would close WeChat's pay sheet


async def test_a_return_with_another_state_is_refused(client, tenant, services, browser):
    link = await _link(client, tenant)
    url = httpx.URL(await _oauth_return_url(browser, link))
    forged = url.copy_merge_params({"state": "0" * 32})
    resp = await browser.get(str(forged))
    assert resp.status_code == 400
    assert "微信授权已失效或不匹配" in resp.text
    assert f'href="/pay/{token_of(link)}?lang=en"' in resp.text
    assert await _orders_of(services, link) == []


async def test_a_code_planted_in_another_browser_is_refused(client, tenant, services, browser, app_holder):
    link = await _link(client, tenant)
    attackers = await _oauth_return_url(browser, link)
    async with another_browser(app_holder) as victim:
        await _oauth_return_url(victim, link)  # the victim has a state of its own, not the attacker's
        resp = await victim.get(attackers)
    assert resp.status_code == 400
    assert await _orders_of(services, link) == []


async def test_a_refused_return_leaves_the_browsers_own_return_usable(client, tenant, browser, app_holder):
    link = await _link(client, tenant)
    attackers = await _oauth_return_url(browser, link)
    async with another_browser(app_holder) as victim:
        own = await _oauth_return_url(victim, link)
        assert (await victim.get(attackers)).status_code == 400
        resp = await victim.get(own)
    assert resp.status_code == 303 and "/orders/ord_" in resp.headers["location"]


async def test_a_return_for_a_rail_without_in_app_payment_is_the_neutral_page(client, tenant, browser):
    link = await _link(client, tenant)
    url = httpx.URL(await _oauth_return_url(browser, link))
    resp = await browser.get(str(url).replace("/in-app/wechatpay", "/in-app/alipay"))
    assert resp.status_code == 404


async def test_the_oauth_return_cannot_be_replayed(client, tenant, services, browser):
    link = await _link(client, tenant)
    url = await _oauth_return_url(browser, link)
    assert (await browser.get(url)).status_code == 303
    again = await browser.get(url)
    assert again.status_code == 400
    assert len(await _orders_of(services, link)) == 1


async def test_a_code_already_exchanged_is_refused_by_wechat(client, tenant, services, browser):
    link = await _link(client, tenant)
    url = httpx.URL(await _oauth_return_url(browser, link))
    await services.rails.providers["wechatpay"].payer_id_for_code(url.params["code"])
    resp = await browser.get(str(url))
    assert resp.status_code == 502
    assert "支付渠道暂时不可用" in resp.text
    assert await _orders_of(services, link) == []


async def test_the_oauth_return_needs_the_identity_pass(client, tenant, services, browser, app_holder):
    link = await _link(client, tenant)
    url = await _oauth_return_url(browser, link)
    async with another_browser(app_holder) as stranger:
        resp = await stranger.get(url)
    assert (resp.status_code, resp.headers["location"]) == (303, f"/pay/{token_of(link)}")


async def test_the_openid_is_in_no_url_page_or_log(client, tenant, services, browser, caplog):
    link = await _link(client, tenant)
    seen: list[str] = []

    async def record(response: httpx.Response) -> None:
        seen.append(str(response.request.url))
        seen.append(response.headers.get("location", ""))

    browser.event_hooks["response"].append(record)
    with caplog.at_level(logging.DEBUG):
        page = await _jsapi_page(browser, link)
    [order] = await _orders_of(services, link)
    openid = services.rails.sandboxes["wechatpay"].orders[order.out_trade_no].payer_openid
    code = next(httpx.URL(u).params["code"] for u in seen if "code=" in u)
    secret = services.rails.providers["wechatpay"].config.official_account_secret
    assert openid and not any(openid in url for url in seen)
    assert openid not in page.text and openid not in str(page.headers)
    # The log as the service writes it: httpx also logs this test's own browser, which is not ours.
    browser_lines = {f"HTTP Request: GET {url} " for url in seen if url}
    server_log = "\n".join(
        r.getMessage() for r in caplog.records if not any(r.getMessage().startswith(b) for b in browser_lines)
    )
    assert "/sns/oauth2/access_token" in server_log  # the exchange was logged, scrubbed
    for value in (openid, code, secret):
        assert value not in server_log


# ---- paying through the bridge ----------------------------------------------------------------------


async def test_paying_through_the_bridge_reaches_the_receipt(client, tenant, services, browser):
    link = await _link(client, tenant)
    page = await _jsapi_page(browser, link)
    order_page = str(page.url)
    # What the sandbox's WeixinJSBridge stand-in posts; the browser is the WeChat user it authorised.
    sheet = await browser.post(
        "/sandbox/wechatpay/jsapi/pay", data={**_bridge(page.text), "redirect_url": order_page}
    )
    assert sheet.status_code == 200, sheet.text
    action = re.search(r'<form class="card" method="post" action="([^"]+)">', sheet.text)
    assert action
    paid = await browser.post(action.group(1), data={"outcome": "pay", "redirect_url": order_page})
    assert (paid.status_code, paid.headers["location"]) == (303, order_page)
    await drain(services, "wechatpay")
    receipt = await browser.get(order_page)
    assert 'id="receipt"' in receipt.text and "<dd>微信支付</dd>" in receipt.text


async def test_the_bridge_sheet_refuses_another_wechat_user(client, tenant, browser, app_holder):
    link = await _link(client, tenant)
    page = await _jsapi_page(browser, link)
    async with another_browser(app_holder) as stranger:
        await stranger.get(
            "/sandbox/wechatpay/connect/oauth2/authorize",
            params={"appid": _bridge(page.text)["appId"], "redirect_uri": f"{BASE}/x", "response_type": "code",
                    "scope": "snsapi_base", "state": "S"},
        )  # fmt: skip
        sheet = await stranger.post("/sandbox/wechatpay/jsapi/pay", data=_bridge(page.text))
    assert sheet.status_code == 400 and "不是下单用户" in sheet.text


# ---- everywhere else, nothing changes ---------------------------------------------------------------


async def test_a_phone_browser_outside_wechat_still_gets_h5(client, tenant, browser):
    link = await _link(client, tenant)
    browser.headers["User-Agent"] = IPHONE_SAFARI
    page = await pass_check(browser, link)
    resp = await start(browser, link, AMOUNT, "wechatpay", page)
    assert resp.status_code == 303
    assert path_of(resp.headers["location"]).startswith("/sandbox/wechatpay/cashier/")


async def test_a_desktop_browser_still_gets_a_native_qr(client, tenant, browser):
    link = await _link(client, tenant)
    page = await pass_check(browser, link)
    resp = await start(browser, link, AMOUNT, "wechatpay", page)
    qr = await browser.get(resp.headers["location"])
    assert '<div class="qr"><svg' in qr.text and "wx-bridge" not in qr.text


async def test_without_an_app_secret_wechat_keeps_h5(client, tenant, services, browser, monkeypatch):
    provider = services.rails.providers["wechatpay"]
    monkeypatch.setattr(provider, "config", dataclasses.replace(provider.config, official_account_secret=""))
    link = await _link(client, tenant)
    resp = await _start_in_wechat(browser, link)
    assert path_of(resp.headers["location"]).startswith("/sandbox/wechatpay/cashier/")


async def test_inside_alipay_alipay_goes_straight_to_its_cashier(client, tenant, browser):
    link = await _link(client, tenant)
    browser.headers["User-Agent"] = ALIPAY_UA
    page = await pass_check(browser, link)
    resp = await start(browser, link, AMOUNT, "alipay", page)
    assert path_of(resp.headers["location"]).startswith("/sandbox/alipay/")
