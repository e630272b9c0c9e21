"""NUL characters in console URLs and forms: a 400 page that changes nothing, never a 500 (PostgreSQL
cannot hold a NUL in text)."""

from __future__ import annotations

from payments.services.container import Services
from tests.console.conftest import NewBrowser, add_staff, csrf_of, item_row, logged_in, post_form, review_item


async def test_a_nul_in_a_console_path_is_a_400_page(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))

    resp = await browser.get("/console/queue/rvw_%00x")

    assert resp.status_code == 400
    assert "请求无效" in resp.text


async def test_a_nul_in_a_console_query_is_a_400_page(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))

    resp = await browser.get("/console/queue?provider=bank%00")

    assert resp.status_code == 400


async def test_a_nul_in_a_form_field_is_refused_and_changes_nothing(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    item = await review_item(services, tenant.client_id, 10_000)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))

    resp = await post_form(
        browser,
        f"/console/queue/{item.id}",
        f"/console/queue/{item.id}/ignore",
        {"reason": "test\x00transfer"},
    )

    assert resp.status_code == 400
    assert (await item_row(services, item.id)).status == "open"


async def test_a_nul_in_the_login_form_is_a_400_page(client, new_browser: NewBrowser) -> None:
    browser = await new_browser()
    page = await browser.get("/console/login")

    resp = await browser.post(
        "/console/login", data={"username": "x\x00y", "password": "p", "_csrf_token": csrf_of(page.text)}
    )

    assert resp.status_code == 400
