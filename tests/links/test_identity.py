"""The identity check before anything is shown: last 4 of the ID number (or phone), 5 tries, 30 minute lock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from payments.persistence.tables import Link
from tests.api.conftest import (
    ID_NUMBER,
    MASKED_ID,
    MASKED_NAME,
    MASKED_PHONE,
    NAME,
    PHONE,
    assert_no_plain_pii,
)
from tests.links.conftest import (
    ID_LAST4,
    PHONE_LAST4,
    csrf_of,
    new_link,
    pass_check,
    path_of,
    set_identity_check,
    set_link,
    two_debts,
    verify,
)

WRONG = "0000" if ID_LAST4 != "0000" else "1111"


async def _locked_until(services, link_id: str) -> datetime | None:
    async with services.db.sessions() as session:
        return await session.scalar(select(Link.locked_until).where(Link.id == link_id))


async def _wrong(browser, link, times: int):
    resp = None
    for _ in range(times):
        resp = await verify(browser, link, WRONG)
    return resp


async def test_the_page_asks_for_the_last_four_of_the_id_number_first(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts())
    resp = await browser.get(path_of(link["url"]))
    assert resp.status_code == 200
    assert "请输入身份证号码的后 4 位" in resp.text
    assert re.search(r'<input id="last4" name="last4"', resp.text)


async def test_nothing_about_the_debt_is_shown_before_the_check(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), case_extra={"creditor_name": "甲银行"})
    resp = await browser.get(path_of(link["url"]))
    for shown_later in ("970.00", "900.00", "50.00", "20.00", MASKED_NAME, "甲银行", "2024-01-31"):
        assert shown_later not in resp.text, shown_later
    assert_no_plain_pii(resp.text)


async def test_a_wrong_answer_says_how_many_tries_are_left(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await verify(browser, link, WRONG)
    assert resp.status_code == 422
    assert "输入有误，还可尝试 4 次。" in resp.text


async def test_each_wrong_answer_counts_down(client, tenant, browser):
    link = await new_link(client, tenant)
    await _wrong(browser, link, 3)
    resp = await verify(browser, link, WRONG)
    assert resp.status_code == 422
    assert "输入有误，还可尝试 1 次。" in resp.text


async def test_an_answer_of_the_wrong_length_counts_as_wrong(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await verify(browser, link, ID_NUMBER[-6:])
    assert resp.status_code == 422
    assert "还可尝试 4 次" in resp.text


async def test_five_wrong_answers_lock_the_link(client, tenant, browser):
    link = await new_link(client, tenant)
    await _wrong(browser, link, 4)
    resp = await verify(browser, link, WRONG)
    assert resp.status_code == 429
    assert "输入错误次数过多，此链接已锁定 30 分钟" in resp.text


async def test_the_lock_lasts_thirty_minutes(client, tenant, services, browser):
    link = await new_link(client, tenant)
    before = datetime.now(UTC)
    await _wrong(browser, link, 5)
    after = datetime.now(UTC)
    until = await _locked_until(services, link["id"])
    assert until is not None
    assert before + timedelta(minutes=30) <= until <= after + timedelta(minutes=30)


async def test_a_locked_link_refuses_even_the_right_answer(client, tenant, browser):
    link = await new_link(client, tenant)
    page = await browser.get(path_of(link["url"]))
    csrf = csrf_of(page.text)
    for _ in range(5):
        await browser.post(f"{path_of(link['url'])}/verify", data={"last4": WRONG, "_csrf_token": csrf})
    resp = await browser.post(f"{path_of(link['url'])}/verify", data={"last4": ID_LAST4, "_csrf_token": csrf})
    assert resp.status_code == 429
    assert "已暂时锁定" in resp.text
    assert "payrecon_idcheck" not in resp.headers.get("set-cookie", "")


async def test_a_locked_link_shows_the_locked_page(client, tenant, browser):
    link = await new_link(client, tenant)
    await _wrong(browser, link, 5)
    resp = await browser.get(path_of(link["url"]))
    assert resp.status_code == 429
    assert "已暂时锁定" in resp.text
    assert 'name="last4"' not in resp.text


async def test_the_lock_holds_for_a_browser_without_cookies(client, tenant, browser):
    link = await new_link(client, tenant)
    await _wrong(browser, link, 5)
    browser.cookies.clear()
    resp = await browser.get(path_of(link["url"]))
    assert resp.status_code == 429


async def test_after_the_lock_the_right_answer_works(client, tenant, services, browser):
    link = await new_link(client, tenant)
    await _wrong(browser, link, 5)
    await set_link(services, link["id"], locked_until=datetime.now(UTC) - timedelta(seconds=1))
    resp = await verify(browser, link, ID_LAST4)
    assert resp.status_code == 303


async def test_the_right_answer_resets_the_count(client, tenant, browser):
    link = await new_link(client, tenant)
    await _wrong(browser, link, 4)
    assert (await verify(browser, link, ID_LAST4)).status_code == 303
    browser.cookies.clear()
    resp = await verify(browser, link, WRONG)
    assert "还可尝试 4 次" in resp.text


async def test_the_right_answer_redirects_to_the_page(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await verify(browser, link, ID_LAST4)
    assert resp.status_code == 303
    assert resp.headers["location"] == path_of(link["url"])


async def test_the_pass_cookie_is_http_only_and_scoped_to_the_link(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await verify(browser, link, ID_LAST4)
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith("payrecon_idcheck="))
    attrs = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
    assert "httponly" in attrs
    assert attrs["path"] == f"Path={path_of(link['url'])}"
    assert attrs["max-age"] == "Max-Age=1800"
    assert attrs["samesite"].lower() == "samesite=lax"


async def test_the_pass_cookie_carries_no_personal_data(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await verify(browser, link, ID_LAST4)
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith("payrecon_idcheck="))
    for plain in (ID_NUMBER, ID_LAST4, PHONE, NAME):
        assert plain not in cookie


async def test_the_pass_for_one_link_does_not_open_another(client, tenant, browser):
    first = await new_link(client, tenant)
    second = await new_link(client, tenant)
    resp = await verify(browser, first, ID_LAST4)
    value = resp.cookies["payrecon_idcheck"]
    other = await browser.get(path_of(second["url"]), headers={"Cookie": f"payrecon_idcheck={value}"})
    assert other.status_code == 200
    assert 'name="last4"' in other.text
    assert MASKED_NAME not in other.text


async def test_a_forged_pass_is_ignored(client, tenant, browser):
    link = await new_link(client, tenant)
    forged = f"{link['id']}.9999999999.{'0' * 64}"
    resp = await browser.get(path_of(link["url"]), headers={"Cookie": f"payrecon_idcheck={forged}"})
    assert 'name="last4"' in resp.text


async def test_after_the_check_the_page_shows_creditor_masked_name_and_amounts(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts(), case_extra={"creditor_name": "甲银行"})
    page = await pass_check(browser, link)
    dl = re.sub(r"\s+", "", page.text.split("<dl>")[1].split("</dl>")[0])
    assert dl == (
        "<dt>债权机构</dt><dd>甲银行</dd>"
        "<dt>借款人</dt><dd>张*三</dd>"
        "<dt>费用</dt><dd>20.00</dd>"
        "<dt>利息</dt><dd>50.00</dd>"
        "<dt>本金</dt><dd>900.00</dd>"
        '<dtclass="total">合计</dt><ddclass="total">970.00</dd>'
        "<dt>最早到期日</dt><dd>2024-01-31</dd>"
    )


async def test_without_a_creditor_name_the_clients_name_is_shown(client, tenant, browser):
    link = await new_link(client, tenant)
    page = await pass_check(browser, link)
    assert "<dt>债权机构</dt><dd>Test Lender</dd>" in page.text


async def test_after_the_check_no_plain_personal_data_is_shown(client, tenant, browser):
    link = await new_link(client, tenant, *two_debts())
    page = await pass_check(browser, link)
    assert_no_plain_pii(page.text)
    for not_needed in (MASKED_ID, MASKED_PHONE, ID_NUMBER[-4:], PHONE[-4:]):
        assert not_needed not in page.text


async def test_the_id_check_accepts_a_lower_case_x(client, tenant, browser):
    from tests.api.conftest import case_body, id_number_ending

    body = case_body()
    body["debtor"]["id_number"] = id_number_ending("123X")
    case = await client.post("/v1/cases", json=body, headers=tenant.headers)
    link = await client.post(f"/v1/cases/{case.json()['id']}/links", json={}, headers=tenant.headers)
    resp = await verify(browser, link.json(), "123x")
    assert resp.status_code == 303


# ---- phone-based check -----------------------------------------------------------------------


async def test_a_phone_client_asks_for_the_last_four_of_the_phone(client, tenant, services, browser):
    await set_identity_check(services, tenant.client_id, "phone")
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link["url"]))
    assert "请输入预留手机号码的后 4 位" in resp.text
    assert 'inputmode="numeric"' in resp.text


async def test_a_phone_client_accepts_the_phone_digits(client, tenant, services, browser):
    await set_identity_check(services, tenant.client_id, "phone")
    link = await new_link(client, tenant)
    resp = await verify(browser, link, PHONE_LAST4)
    assert resp.status_code == 303


async def test_a_phone_client_refuses_the_id_number_digits(client, tenant, services, browser):
    await set_identity_check(services, tenant.client_id, "phone")
    link = await new_link(client, tenant)
    resp = await verify(browser, link, ID_LAST4)
    assert resp.status_code == 422
    assert "还可尝试 4 次" in resp.text


async def test_an_id_number_client_refuses_the_phone_digits(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await verify(browser, link, PHONE_LAST4)
    assert resp.status_code == 422


async def test_a_second_round_of_wrong_answers_locks_twice_as_long(client, tenant, services, browser):
    link = await new_link(client, tenant)
    await _wrong(browser, link, 5)
    await set_link(services, link["id"], locked_until=datetime.now(UTC) - timedelta(seconds=1))
    before = datetime.now(UTC)
    await _wrong(browser, link, 5)
    until = await _locked_until(services, link["id"])
    assert until is not None and timedelta(minutes=59) < until - before <= timedelta(minutes=61)
