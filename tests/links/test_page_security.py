"""The pay page's protections and shape: CSRF, security headers, language, size, self-hosted assets, rate limit."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.links.conftest import (
    BASE,
    ID_LAST4,
    csrf_of,
    new_link,
    pass_check,
    path_of,
    start,
    two_debts,
    verify,
)

WRONG = "0000"


# ---- CSRF -------------------------------------------------------------------------------------------


async def test_identity_post_without_csrf_token_is_403(client, tenant, browser):
    link = await new_link(client, tenant)
    await browser.get(path_of(link["url"]))
    resp = await browser.post(f"{path_of(link['url'])}/verify", data={"last4": ID_LAST4})
    assert resp.status_code == 403
    assert "payrecon_idcheck" not in resp.headers.get("set-cookie", "")


async def test_identity_post_with_a_wrong_csrf_token_is_403(client, tenant, browser):
    link = await new_link(client, tenant)
    page = await browser.get(path_of(link["url"]))
    bad = csrf_of(page.text)[::-1]
    resp = await browser.post(f"{path_of(link['url'])}/verify", data={"last4": ID_LAST4, "_csrf_token": bad})
    assert resp.status_code == 403


async def test_identity_post_without_the_csrf_cookie_is_403(client, tenant, browser):
    link = await new_link(client, tenant)
    page = await browser.get(path_of(link["url"]))
    token = csrf_of(page.text)
    browser.cookies.clear()
    resp = await browser.post(
        f"{path_of(link['url'])}/verify", data={"last4": ID_LAST4, "_csrf_token": token}
    )
    assert resp.status_code == 403


async def test_identity_post_with_the_csrf_token_works(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await verify(browser, link, ID_LAST4)
    assert resp.status_code == 303


async def test_start_without_csrf_token_is_403(client, tenant, browser):
    link = await new_link(client, tenant)
    await pass_check(browser, link)
    resp = await browser.post(
        f"{path_of(link['url'])}/start", data={"amount": "1000.00", "channel": "alipay"}
    )
    assert resp.status_code == 403


async def test_start_with_the_csrf_token_works(client, tenant, browser):
    link = await new_link(client, tenant)
    page = await pass_check(browser, link)
    resp = await start(browser, link, "1000.00", "alipay", page)
    assert resp.status_code == 303


async def test_the_csrf_cookie_is_http_only_and_kept_under_pay(client, tenant, browser):
    link = await new_link(client, tenant)
    page = await browser.get(path_of(link["url"]))
    cookie = next(c for c in page.headers.get_list("set-cookie") if c.startswith("csrftoken="))
    attrs = [a.strip().lower() for a in cookie.split(";")[1:]]
    assert "httponly" in attrs
    assert "path=/pay" in attrs
    assert "samesite=lax" in attrs


async def test_start_without_the_identity_pass_goes_back_to_the_check(client, tenant, browser):
    link = await new_link(client, tenant)
    page = await browser.get(path_of(link["url"]))
    resp = await start(browser, link, "1000.00", "alipay", page)
    assert resp.status_code == 303
    assert resp.headers["location"] == path_of(link["url"])


# ---- headers on every page ------------------------------------------------------------------------


async def _page(kind: str, client, tenant, browser) -> httpx.Response:
    if kind == "neutral":
        return await browser.get("/pay/AAAAAAAAAAAAAAAAAAAAAA")
    link = await new_link(
        client, tenant, *two_debts(), amount_policy={"kind": "range", "min_amount": "100.00"}
    )
    if kind == "identity check":
        return await browser.get(path_of(link["url"]))
    if kind == "wrong answer":
        return await verify(browser, link, WRONG)
    if kind == "locked":
        for _ in range(5):
            resp = await verify(browser, link, WRONG)
        return resp
    page = await pass_check(browser, link)
    if kind == "amount due":
        return page
    if kind == "amount out of range":
        return await start(browser, link, "5000.00", "alipay", page)
    started = await start(browser, link, "100.00", "alipay", page)
    return await browser.get(started.headers["location"])


PAGES = ["neutral", "identity check", "wrong answer", "locked", "amount due", "amount out of range", "order"]


@pytest.mark.parametrize("kind", PAGES)
async def test_csp_allows_no_inline_script_or_style(kind, client, tenant, browser):
    resp = await _page(kind, client, tenant, browser)
    csp = resp.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("kind", PAGES)
async def test_referrer_policy_is_no_referrer(kind, client, tenant, browser):
    resp = await _page(kind, client, tenant, browser)
    assert resp.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("kind", PAGES)
async def test_pages_are_never_cached(kind, client, tenant, browser):
    resp = await _page(kind, client, tenant, browser)
    assert resp.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("kind", PAGES)
async def test_pages_are_utf8_html_that_cannot_be_framed_or_sniffed(kind, client, tenant, browser):
    resp = await _page(kind, client, tenant, browser)
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("kind", PAGES)
async def test_pages_have_no_inline_script_or_style(kind, client, tenant, browser):
    resp = await _page(kind, client, tenant, browser)
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", resp.text) == []
    assert "<style" not in resp.text
    assert " style=" not in resp.text
    assert re.findall(r"\son[a-z]+=", resp.text) == []


async def test_identity_pass_redirect_is_not_cached(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await verify(browser, link, ID_LAST4)
    assert resp.headers["cache-control"] == "no-store"


# ---- language ----------------------------------------------------------------------------------------


async def test_simplified_chinese_by_default(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link["url"]))
    assert '<html lang="zh-CN">' in resp.text
    assert "<h2>身份验证</h2>" in resp.text


async def test_accept_language_english_gives_english(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link["url"]), headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in resp.text
    assert "<h2>Identity check</h2>" in resp.text


async def test_accept_language_chinese_first_stays_chinese(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link["url"]), headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert "<h2>身份验证</h2>" in resp.text


async def test_an_unsupported_language_falls_back_to_chinese(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link["url"]), headers={"Accept-Language": "fr-FR"})
    assert "<h2>身份验证</h2>" in resp.text


async def test_the_toggle_links_to_the_other_language(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link["url"]))
    assert f'<a href="{path_of(link["url"])}?lang=en" class="no-print">English</a>' in resp.text


async def test_the_toggle_switches_to_english_and_remembers_it(client, tenant, browser):
    link = await new_link(client, tenant)
    switched = await browser.get(path_of(link["url"]), params={"lang": "en"})
    assert "<h2>Identity check</h2>" in switched.text
    cookie = next(c for c in switched.headers.get_list("set-cookie") if c.startswith("payrecon_lang="))
    assert cookie.startswith("payrecon_lang=en;")
    assert "Path=/pay" in cookie
    later = await browser.get(path_of(link["url"]))
    assert "<h2>Identity check</h2>" in later.text


async def test_the_toggle_back_to_chinese_wins_over_accept_language(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(
        path_of(link["url"]), params={"lang": "zh"}, headers={"Accept-Language": "en-US"}
    )
    assert "<h2>身份验证</h2>" in resp.text
    assert '<a href="' + path_of(link["url"]) + '?lang=en"' in resp.text


async def test_the_toggle_on_a_form_answer_points_at_the_page(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await verify(browser, link, WRONG)
    assert f'<a href="{path_of(link["url"])}?lang=en"' in resp.text


async def test_the_english_page_shows_the_amounts_in_english(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts())
    page = await pass_check(browser, link)
    resp = await browser.get(path_of(link["url"]), params={"lang": "en"})
    assert page.status_code == 200
    assert "<dt>Creditor</dt><dd>Test Lender</dd>" in resp.text
    assert '<dt class="total">Total</dt><dd class="total">970.00</dd>' in resp.text


# ---- size and assets -------------------------------------------------------------------------------


def _assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


async def test_the_page_with_its_css_and_js_is_under_100_kb(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts())
    page = await pass_check(browser, link)
    total = len(page.content)
    for asset in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text):
        resp = await browser.get(asset)
        assert resp.status_code == 200, asset
        total += len(resp.content)
    assert total < 100_000, total


async def test_the_page_loads_only_its_own_css_and_js(client, tenant, browser):
    link = await new_link(client, tenant)
    page = await pass_check(browser, link)
    loaded = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text)
    assert loaded == ["/pay-static/pay.css", "/pay-static/pay.js"]


async def test_no_link_on_the_page_leaves_the_site(client, tenant, browser):
    link = await new_link(client, tenant)
    page = await pass_check(browser, link)
    for url in _assets(page.text):
        assert url.startswith("/"), url
        assert not url.startswith("//"), url


async def test_the_stylesheet_loads_nothing_from_elsewhere(browser):
    css = await browser.get("/pay-static/pay.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "url(" not in css.text and "@import" not in css.text


async def test_the_script_calls_nothing_outside_the_site(browser):
    js = await browser.get("/pay-static/pay.js")
    assert js.status_code == 200
    assert re.findall(r"https?://", js.text) == []


async def test_the_core_path_uses_plain_html_forms(client, tenant, browser):
    link = await new_link(client, tenant)
    check = await browser.get(path_of(link["url"]))
    assert f'<form method="post" action="{path_of(link["url"])}/verify">' in check.text
    page = await pass_check(browser, link)
    assert f'<form method="post" action="{path_of(link["url"])}/start">' in page.text
    assert '<button type="submit" name="channel" value="alipay"' in page.text


async def test_the_page_is_laid_out_for_phones(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link["url"]))
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in resp.text


# ---- rate limit ----------------------------------------------------------------------------------------


async def test_more_than_120_page_requests_a_minute_from_one_address_are_refused(browser):
    statuses = [(await browser.get("/pay/AAAAAAAAAAAAAAAAAAAAAA")).status_code for _ in range(121)]
    assert statuses[:120] == [404] * 120
    assert statuses[120] == 429


async def test_the_rate_limit_counts_each_address_apart(client, browser, app_holder):
    for _ in range(121):
        await browser.get("/pay/AAAAAAAAAAAAAAAAAAAAAA")
    transport = httpx.ASGITransport(app=app_holder["app"], client=("10.99.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as other:
        resp = await other.get("/pay/AAAAAAAAAAAAAAAAAAAAAA")
    assert resp.status_code == 404


async def test_the_api_is_not_under_the_page_rate_limit(client, tenant, browser):
    for _ in range(121):
        await browser.get("/pay/AAAAAAAAAAAAAAAAAAAAAA")
    resp = await browser.get("/health")
    assert resp.status_code == 200


async def test_markup_in_the_creditor_name_is_shown_escaped_after_the_identity_check(client, tenant, browser):
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    link = await new_link(client, tenant, case_extra={"creditor_name": hostile})

    page = await pass_check(browser, link)

    assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
