"""Choosing an amount and a channel, paying through the sandboxes, and the receipt the server confirms."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from payments.persistence.db import utcnow
from payments.persistence.tables import Case, Order
from payments.services.pending_orders import settle_expired_orders
from tests.api.conftest import debt
from tests.links.conftest import (
    ALIPAY_UA,
    csrf_of,
    drain,
    new_link,
    pass_check,
    path_of,
    read_link,
    start,
    two_debts,
)

BEIJING = timezone(timedelta(hours=8))
RANGE = {"kind": "range", "min_amount": "100.00"}  # on two_debts(): 100.00 to 970.00


async def _out_trade_no(services, order_id: str) -> str:
    async with services.db.sessions() as session:
        return (await session.scalar(select(Order.out_trade_no).where(Order.id == order_id))) or ""


async def _order_id(resp) -> str:
    assert resp.status_code == 303, resp.text
    return resp.headers["location"].rsplit("/", 1)[1]


async def _pay(client, tenant, services, browser, rail: str, amount: str, **link_body):
    """Issue a link on two_debts(), pass the check, start an order, pay it in the sandbox, deliver the notice."""
    link = await new_link(client, tenant, *two_debts(), **link_body)
    page = await pass_check(browser, link)
    order_id = await _order_id(await start(browser, link, amount, rail, page))
    out_trade_no = await _out_trade_no(services, order_id)
    await services.rails.sandboxes[rail].pay(out_trade_no, "pay")
    await drain(services, rail)
    return link, order_id, out_trade_no


def _receipt(html: str) -> str:
    return re.sub(r"\s+", "", html.split('<section class="card" id="receipt">')[1].split("</section>")[0])


# ---- choosing the amount ------------------------------------------------------------------------------


async def test_a_range_link_offers_the_minimum_to_the_balance(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    assert '<p class="hint">可输入 100.00 至 970.00 元</p>' in page.text
    assert 'name="amount" type="text" inputmode="decimal" value="970.00"' in page.text


async def test_a_fixed_link_shows_its_amount_without_a_field(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy={"kind": "fixed", "amount": "250.00"})
    page = await pass_check(browser, link)
    assert "<p>本次需还 250.00 元</p>" in page.text
    assert '<input type="hidden" name="amount" value="250.00">' in page.text


async def test_a_full_balance_link_asks_for_the_whole_balance(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts())
    page = await pass_check(browser, link)
    assert "<p>本次需还 970.00 元</p>" in page.text


async def test_an_instalment_link_asks_for_the_first_instalment(client, tenant, browser):
    day = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    later = (datetime.now(UTC).date() + timedelta(days=40)).isoformat()
    plan = [{"due_date": day, "amount": "300.00"}, {"due_date": later, "amount": "670.00"}]
    link = await new_link(
        client, tenant, *two_debts(), amount_policy={"kind": "instalments", "instalments": plan}
    )
    page = await pass_check(browser, link)
    assert "<p>本次需还 300.00 元</p>" in page.text


async def test_an_amount_above_the_balance_is_a_422_page_with_the_range(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    resp = await start(browser, link, "970.01", "alipay", page)
    assert resp.status_code == 422
    assert '<p class="error" role="alert">请输入 100.00 至 970.00 元之间的金额。</p>' in resp.text


async def test_an_amount_below_the_minimum_is_a_422_page_with_the_range(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    resp = await start(browser, link, "99.99", "alipay", page)
    assert resp.status_code == 422
    assert '<p class="error" role="alert">请输入 100.00 至 970.00 元之间的金额。</p>' in resp.text


async def test_an_amount_that_is_not_a_number_is_a_422_page(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    resp = await start(browser, link, "abc", "alipay", page)
    assert resp.status_code == 422
    assert '<p class="error" role="alert">请输入 100.00 至 970.00 元之间的金额。</p>' in resp.text


async def test_the_range_error_is_in_english_on_the_english_page(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    resp = await browser.post(
        f"{path_of(link['url'])}/start",
        data={"amount": "1.00", "channel": "alipay", "_csrf_token": csrf_of(page.text)},
        headers={"Accept-Language": "en"},
    )
    assert '<p class="error" role="alert">Enter an amount from 100.00 to 970.00 yuan.</p>' in resp.text


async def test_a_fixed_link_refuses_another_amount(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy={"kind": "fixed", "amount": "250.00"})
    page = await pass_check(browser, link)
    resp = await start(browser, link, "251.00", "alipay", page)
    assert resp.status_code == 422
    assert '<p class="error" role="alert">本次需还 250.00 元</p>' in resp.text


async def test_an_out_of_range_amount_creates_no_order(client, tenant, services, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    await start(browser, link, "5000.00", "alipay", page)
    async with services.db.sessions() as session:
        assert (await session.scalars(select(Order.id).where(Order.link_id == link["id"]))).all() == []


async def test_an_amount_in_range_redirects_to_the_order_page(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    resp = await start(browser, link, "100.00", "alipay", page)
    assert resp.status_code == 303
    assert re.fullmatch(rf"{path_of(link['url'])}/orders/ord_[0-9a-z]+", resp.headers["location"])


async def test_the_order_is_made_for_the_chosen_amount_and_channel(client, tenant, services, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    order_id = await _order_id(await start(browser, link, "123.45", "wechatpay", page))
    async with services.db.sessions() as session:
        order = await session.get_one(Order, order_id)
    assert (order.amount_fen, order.provider, order.status, order.link_id) == (
        12345,
        "wechatpay",
        "pending",
        link["id"],
    )


async def test_the_order_page_shows_the_provider_qr_inline(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    order = await browser.get((await start(browser, link, "100.00", "alipay", page)).headers["location"])
    assert order.status_code == 200
    assert "<p>请使用支付宝扫描二维码完成支付</p>" in order.text
    assert re.search(r'<div class="qr"><svg [^>]*xmlns="http://www.w3.org/2000/svg"', order.text)
    assert "<p>100.00 · 支付宝</p>" in order.text


async def test_the_wechat_order_page_shows_the_native_qr_inline(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    order = await browser.get((await start(browser, link, "100.00", "wechatpay", page)).headers["location"])
    assert "<p>请使用微信支付扫描二维码完成支付</p>" in order.text
    assert '<div class="qr"><svg ' in order.text


async def test_the_waiting_page_polls_without_javascript(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    location = (await start(browser, link, "100.00", "alipay", page)).headers["location"]
    order = await browser.get(location)
    assert '<meta http-equiv="refresh" content="5">' in order.text
    assert f'data-status-url="{location}/status"' in order.text


async def test_inside_alipay_the_page_redirects_to_the_provider(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    browser.headers["User-Agent"] = ALIPAY_UA
    page = await pass_check(browser, link)
    resp = await start(browser, link, "100.00", "alipay", page)
    assert resp.status_code == 303
    assert not resp.headers["location"].startswith(path_of(link["url"]))
    assert resp.headers["cache-control"] == "no-store"


# ---- paying ---------------------------------------------------------------------------------------------


async def test_alipay_payment_shows_the_receipt_with_the_remaining_balance(client, tenant, services, browser):
    link, order_id, out_trade_no = await _pay(
        client, tenant, services, browser, "alipay", "100.00", amount_policy=RANGE
    )
    resp = await browser.get(f"{path_of(link['url'])}/orders/{order_id}")
    async with services.db.sessions() as session:
        paid_at = (
            (await session.get_one(Order, order_id)).paid_at.astimezone(BEIJING).strftime("%Y-%m-%d%H:%M:%S")
        )
    assert _receipt(resp.text) == (
        '<h2class="ok">还款成功</h2><dl>'
        "<dt>债权机构</dt><dd>TestLender</dd>"
        "<dt>还款金额</dt><dd>100.00</dd>"
        f"<dt>支付时间</dt><dd>{paid_at}</dd>"
        "<dt>支付方式</dt><dd>支付宝</dd>"
        f"<dt>交易参考号</dt><dd>{out_trade_no}</dd>"
        '<dtclass="total">剩余应还</dt><ddclass="total">870.00</dd>'
        "</dl>"
    )


async def test_a_partial_alipay_payment_makes_the_link_partially_paid(client, tenant, services, browser):
    link, _, _ = await _pay(client, tenant, services, browser, "alipay", "100.00", amount_policy=RANGE)
    after = await read_link(client, tenant, link["id"])
    assert (after["status"], after["paid"], after["paid_fen"], after["payments_count"]) == (
        "partially_paid",
        "100.00",
        10000,
        1,
    )


async def test_paying_the_whole_balance_by_wechat_makes_the_link_paid(client, tenant, services, browser):
    link, order_id, _ = await _pay(client, tenant, services, browser, "wechatpay", "970.00")
    after = await read_link(client, tenant, link["id"])
    assert (after["status"], after["paid_fen"], after["payments_count"]) == ("paid", 97000, 1)
    resp = await browser.get(f"{path_of(link['url'])}/orders/{order_id}")
    assert '<dt class="total">剩余应还</dt><dd class="total">0.00</dd>' in resp.text
    assert "<dt>支付方式</dt><dd>微信支付</dd>" in resp.text


async def test_paying_the_whole_balance_closes_the_case(client, tenant, services, browser):
    link, _, _ = await _pay(client, tenant, services, browser, "wechatpay", "970.00")
    async with services.db.sessions() as session:
        case = await session.get_one(Case, link["case_id"])
    assert case.status == "paid"


async def test_after_a_partial_payment_the_page_offers_the_new_balance(client, tenant, services, browser):
    link, _, _ = await _pay(client, tenant, services, browser, "alipay", "100.00", amount_policy=RANGE)
    page = await browser.get(path_of(link["url"]))
    assert '<dt class="total">合计</dt><dd class="total">870.00</dd>' in page.text
    assert '<p class="hint">可输入 100.00 至 870.00 元</p>' in page.text


async def test_a_met_settlement_offer_settles_the_case(client, tenant, services, browser):
    settle_by = (datetime.now(UTC).date() + timedelta(days=5)).isoformat()
    link = await new_link(
        client,
        tenant,
        *two_debts(),
        amount_policy={"kind": "settlement", "amount": "500.00", "settle_by": settle_by},
    )
    await client.post(f"/v1/links/{link['id']}/approve", headers=tenant.finance_headers)
    page = await pass_check(browser, link)
    assert "<p>本次需还 500.00 元</p>" in page.text
    order_id = await _order_id(await start(browser, link, "500.00", "alipay", page))
    await services.rails.sandboxes["alipay"].pay(await _out_trade_no(services, order_id), "pay")
    await drain(services, "alipay")
    after = await read_link(client, tenant, link["id"])
    async with services.db.sessions() as session:
        case = await session.get_one(Case, link["case_id"])
    assert (after["status"], case.status) == ("paid", "settled")
    receipt = await browser.get(f"{path_of(link['url'])}/orders/{order_id}")
    assert '<dt class="total">剩余应还</dt><dd class="total">0.00</dd>' in receipt.text


async def test_paying_the_first_instalment_asks_for_the_second(client, tenant, services, browser):
    day = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    later = (datetime.now(UTC).date() + timedelta(days=40)).isoformat()
    plan = [{"due_date": day, "amount": "300.00"}, {"due_date": later, "amount": "670.00"}]
    link, _, _ = await _pay(
        client,
        tenant,
        services,
        browser,
        "alipay",
        "300.00",
        amount_policy={"kind": "instalments", "instalments": plan},
    )
    page = await browser.get(path_of(link["url"]))
    assert "<p>本次需还 670.00 元</p>" in page.text
    assert (await read_link(client, tenant, link["id"]))["status"] == "partially_paid"


# ---- the return URL and the status JSON ---------------------------------------------------------------


async def test_the_return_url_shows_pending_until_the_server_knows(client, tenant, services, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    await start(browser, link, "100.00", "alipay", page)
    resp = await browser.get(
        f"{path_of(link['url'])}/orders/latest",
        params={"trade_status": "TRADE_SUCCESS", "status": "paid", "total_amount": "100.00"},
    )
    assert resp.status_code == 200
    assert "还款成功" not in resp.text
    assert '<p class="hint">正在等待支付结果……页面会自动刷新。</p>' in resp.text


async def test_the_return_url_shows_the_receipt_once_the_server_has_the_payment(
    client, tenant, services, browser
):
    link, _, out_trade_no = await _pay(
        client, tenant, services, browser, "alipay", "100.00", amount_policy=RANGE
    )
    resp = await browser.get(f"{path_of(link['url'])}/orders/latest")
    assert '<h2 class="ok">还款成功</h2>' in resp.text
    assert f"<dt>交易参考号</dt><dd>{out_trade_no}</dd>" in resp.text


async def test_the_return_url_without_an_order_is_neutral(client, tenant, browser):
    link = await new_link(client, tenant)
    await pass_check(browser, link)
    resp = await browser.get(f"{path_of(link['url'])}/orders/latest")
    assert resp.status_code == 404
    assert "链接不可用" in resp.text


async def test_an_unpaid_order_closed_by_the_provider_shows_not_completed(client, tenant, services, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    order_id = await _order_id(await start(browser, link, "100.00", "wechatpay", page))
    async with services.db.transaction() as session:
        (await session.get_one(Order, order_id)).status = "closed"
    resp = await browser.get(f"{path_of(link['url'])}/orders/{order_id}")
    assert "<h2>支付未完成</h2>" in resp.text


async def test_status_json_is_pending_before_payment(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    location = (await start(browser, link, "100.00", "alipay", page)).headers["location"]
    resp = await browser.get(f"{location}/status")
    assert (resp.status_code, resp.json(), resp.headers["cache-control"]) == (
        200,
        {"status": "pending"},
        "no-store",
    )


async def test_status_json_is_paid_after_the_notification(client, tenant, services, browser):
    link, order_id, _ = await _pay(
        client, tenant, services, browser, "wechatpay", "100.00", amount_policy=RANGE
    )
    resp = await browser.get(f"{path_of(link['url'])}/orders/{order_id}/status")
    assert (resp.status_code, resp.json()) == (200, {"status": "paid"})


async def test_status_json_needs_the_identity_pass(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    location = (await start(browser, link, "100.00", "alipay", page)).headers["location"]
    browser.cookies.clear()
    resp = await browser.get(f"{location}/status")
    assert (resp.status_code, resp.json()) == (404, {"status": "unknown"})


async def test_status_json_of_another_links_order_is_unknown(client, tenant, browser):
    first = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    second = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, first)
    order_id = await _order_id(await start(browser, first, "100.00", "alipay", page))
    await pass_check(browser, second)
    resp = await browser.get(f"{path_of(second['url'])}/orders/{order_id}/status")
    assert (resp.status_code, resp.json()) == (404, {"status": "unknown"})


async def test_the_order_page_of_another_links_order_is_neutral(client, tenant, browser):
    first = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    second = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, first)
    order_id = await _order_id(await start(browser, first, "100.00", "alipay", page))
    await pass_check(browser, second)
    resp = await browser.get(f"{path_of(second['url'])}/orders/{order_id}")
    assert resp.status_code == 404
    assert "链接不可用" in resp.text


async def test_the_order_page_needs_the_identity_pass(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), amount_policy=RANGE)
    page = await pass_check(browser, link)
    location = (await start(browser, link, "100.00", "alipay", page)).headers["location"]
    browser.cookies.clear()
    resp = await browser.get(location)
    assert (resp.status_code, resp.headers["location"]) == (303, path_of(link["url"]))


# ---- the payment cap --------------------------------------------------------------------------------------


async def test_reaching_the_payment_cap_makes_the_link_paid(client, tenant, services, browser):
    link, _, _ = await _pay(
        client, tenant, services, browser, "alipay", "100.00", amount_policy=RANGE, max_payments=1
    )
    after = await read_link(client, tenant, link["id"])
    assert (after["status"], after["payments_count"], after["max_payments"]) == ("paid", 1, 1)


async def test_after_the_cap_the_page_offers_nothing(client, tenant, services, browser):
    link, _, _ = await _pay(
        client, tenant, services, browser, "alipay", "100.00", amount_policy=RANGE, max_payments=1
    )
    page = await browser.get(path_of(link["url"]))
    assert page.status_code == 200
    assert "<p>此链接当前没有需要支付的金额。</p>" in page.text
    assert "/start" not in page.text
    assert 'name="channel"' not in page.text


async def test_after_the_cap_starting_a_payment_is_refused(client, tenant, services, browser):
    link, _, _ = await _pay(
        client, tenant, services, browser, "alipay", "100.00", amount_policy=RANGE, max_payments=1
    )
    resp = await browser.post(
        f"{path_of(link['url'])}/start",
        data={"amount": "100.00", "channel": "alipay", "_csrf_token": browser.cookies["csrftoken"]},
    )
    assert resp.status_code == 409
    assert (
        '<p class="error" role="alert">此链接当前没有需要支付的金额。</p>' not in resp.text
    )  # no form to show it in
    assert "<p>此链接当前没有需要支付的金额。</p>" in resp.text


async def test_below_the_cap_the_link_takes_another_payment(client, tenant, services, browser):
    link, _, _ = await _pay(
        client, tenant, services, browser, "alipay", "100.00", amount_policy=RANGE, max_payments=2
    )
    assert (await read_link(client, tenant, link["id"]))["status"] == "partially_paid"
    page = await browser.get(path_of(link["url"]))
    assert '<p class="hint">可输入 100.00 至 870.00 元</p>' in page.text


async def test_a_paid_link_keeps_showing_its_receipt(client, tenant, services, browser):
    link, order_id, _ = await _pay(client, tenant, services, browser, "wechatpay", "970.00")
    resp = await browser.get(f"{path_of(link['url'])}/orders/{order_id}")
    assert resp.status_code == 200
    assert '<h2 class="ok">还款成功</h2>' in resp.text


async def test_a_fixed_amount_above_the_balance_asks_only_for_the_balance(client, tenant, services, browser):
    link = await new_link(
        client, tenant, debt("D1", principal="50.00"), amount_policy={"kind": "fixed", "amount": "80.00"}
    )
    page = await pass_check(browser, link)
    assert "<p>本次需还 50.00 元</p>" in page.text


# ---- two tabs, one payment cap -----------------------------------------------------------------------


async def test_once_a_capped_link_is_paid_its_other_pending_order_is_closed_at_the_provider(
    client, tenant, services, browser
):
    link = await new_link(client, tenant, *two_debts(), max_payments=1)
    page = await pass_check(browser, link)
    first = await _order_id(await start(browser, link, "970.00", "alipay", page))
    page = await browser.get(path_of(link["url"]))
    second = await _order_id(await start(browser, link, "970.00", "wechatpay", page))
    await services.rails.sandboxes["alipay"].pay(await _out_trade_no(services, first), "pay")
    await drain(services, "alipay")
    assert (await read_link(client, tenant, link["id"]))["status"] == "paid"

    report = await settle_expired_orders(services.db, services.rails.providers, utcnow())

    assert report.closed >= 1, report
    async with services.db.sessions() as session:
        status = await session.scalar(select(Order.status).where(Order.id == second))
    assert status == "closed"
