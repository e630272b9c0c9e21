"""No personal data in any URL the pages emit, in redirects, or in the logs of a whole payment."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, unquote

from sqlalchemy import select

from payments.persistence.tables import Order
from tests.api.conftest import ID_NUMBER, MASKED_ID, MASKED_NAME, MASKED_PHONE, NAME, PHONE
from tests.links.conftest import (
    ALIPAY_UA,
    drain,
    new_link,
    pass_check,
    path_of,
    start,
    two_debts,
    verify,
)

PLAIN = (NAME, ID_NUMBER, ID_NUMBER[6:14], PHONE)
IN_URLS_NOT_EVEN_MASKED = (*PLAIN, MASKED_NAME, MASKED_ID, MASKED_PHONE)
URL_ATTRS = re.compile(r'(?:href|src|action|data-status-url)="([^"]*)"')


def _assert_clean(url: str) -> None:
    for text in (url, unquote(url), unquote(unquote(url))):
        for plain in IN_URLS_NOT_EVEN_MASKED:
            assert plain not in text, (plain, url)
            assert quote(plain) not in text, (plain, url)


async def _walk(client, tenant, services, browser) -> list[str]:
    """Every URL a borrower's browser sees from the identity check to the receipt."""
    urls: list[str] = []
    link = await new_link(client, tenant, *two_debts(), amount_policy={"kind": "range", "min_amount": "1.00"})
    urls += [link["url"], link["qr_png_url"], link["qr_svg_url"]]
    check = await browser.get(path_of(link["url"]))
    urls += URL_ATTRS.findall(check.text)
    wrong = await verify(browser, link, "0000")
    urls += URL_ATTRS.findall(wrong.text)
    passed = await verify(browser, link)
    urls.append(passed.headers["location"])
    page = await browser.get(path_of(link["url"]))
    urls += URL_ATTRS.findall(page.text)
    out_of_range = await start(browser, link, "9999.00", "alipay", page)
    urls += URL_ATTRS.findall(out_of_range.text)
    started = await start(browser, link, "1.00", "wechatpay", page)
    urls.append(started.headers["location"])
    order = await browser.get(started.headers["location"])
    urls += URL_ATTRS.findall(order.text)
    order_id = started.headers["location"].rsplit("/", 1)[1]
    async with services.db.sessions() as session:
        out_trade_no = await session.scalar(select(Order.out_trade_no).where(Order.id == order_id))
    await services.rails.sandboxes["wechatpay"].pay(out_trade_no, "pay")
    await drain(services, "wechatpay")
    receipt = await browser.get(started.headers["location"])
    urls += URL_ATTRS.findall(receipt.text)
    browser.headers["User-Agent"] = ALIPAY_UA
    redirect = await start(browser, link, "1.00", "alipay", page)
    urls.append(redirect.headers["location"])
    return urls


async def test_no_url_the_pages_emit_carries_personal_data(client, tenant, services, browser):
    urls = await _walk(client, tenant, services, browser)
    assert len(urls) >= 20
    for url in urls:
        _assert_clean(url)


async def test_the_provider_redirect_carries_no_personal_data(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts())
    browser.headers["User-Agent"] = ALIPAY_UA
    page = await pass_check(browser, link)
    resp = await start(browser, link, "970.00", "alipay", page)
    assert resp.status_code == 303
    _assert_clean(resp.headers["location"])
    assert "/orders/latest" in unquote(resp.headers["location"])  # the display-only return URL


async def test_a_whole_payment_logs_no_personal_data(client, tenant, services, browser, caplog):
    caplog.set_level(logging.DEBUG)
    await _walk(client, tenant, services, browser)
    assert caplog.records  # the walk does log (requests, provider calls, notifications)
    for plain in PLAIN:
        assert plain not in caplog.text, plain
