"""Personal data is masked on every page; a user with the reveal permission can show it, audited."""

from __future__ import annotations

from payments.services.container import Services
from tests.api.conftest import ID_NUMBER, MASKED_NAME, NAME, PHONE
from tests.console.conftest import (
    MEMO,
    ONE_DEBT,
    PAYER_ACCOUNT,
    PAYER_NAME,
    NewBrowser,
    add_staff,
    audit_count,
    logged_in,
    new_case,
    post_form,
    review_item,
)


async def test_a_case_shows_the_debtor_masked(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    case = await new_case(client, tenant, ONE_DEBT)
    browser = await logged_in(
        new_browser, await add_staff(services, "approver", tenant.client_id, reveal=True)
    )
    page = await browser.get(f"/console/cases/{case['id']}")
    assert page.status_code == 200
    assert MASKED_NAME in page.text
    for plain in (NAME, ID_NUMBER, PHONE):
        assert plain not in page.text


async def test_revealing_the_debtor_is_audited(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    case = await new_case(client, tenant, ONE_DEBT)
    user = await add_staff(services, "clerk", tenant.client_id, reveal=True)
    browser = await logged_in(new_browser, user)
    resp = await post_form(browser, f"/console/cases/{case['id']}", f"/console/cases/{case['id']}/reveal", {})
    assert resp.status_code == 200
    assert NAME in resp.text and ID_NUMBER in resp.text and PHONE in resp.text
    assert await audit_count(services, "debtor.revealed") >= 1
    # The reveal is on the case's own timeline, by this user.
    page = await browser.get(f"/console/cases/{case['id']}")
    assert "查看了债务人完整信息" in page.text and f"staff:{user.username}" in page.text
    assert NAME not in page.text  # shown once, not kept


async def test_revealing_needs_the_permission(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    case = await new_case(client, tenant, ONE_DEBT)
    browser = await logged_in(new_browser, await add_staff(services, "approver", tenant.client_id))
    page = await browser.get(f"/console/cases/{case['id']}")
    assert f"/console/cases/{case['id']}/reveal" not in page.text
    resp = await post_form(browser, f"/console/cases/{case['id']}", f"/console/cases/{case['id']}/reveal", {})
    assert resp.status_code == 403
    assert NAME not in resp.text


async def test_the_payer_of_a_bank_transfer_is_masked(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    item = await review_item(services, tenant.client_id, 10_000, with_bank_line=True)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id))
    page = await browser.get(f"/console/queue/{item.id}")
    assert page.status_code == 200
    assert "李*四" in page.text and "**** 3445" in page.text
    assert PAYER_NAME not in page.text and PAYER_ACCOUNT not in page.text and "13912345678" not in page.text


async def test_revealing_the_payer_is_audited(
    services: Services, client, new_browser: NewBrowser, tenant
) -> None:
    item = await review_item(services, tenant.client_id, 10_000, with_bank_line=True)
    browser = await logged_in(new_browser, await add_staff(services, "clerk", tenant.client_id, reveal=True))
    before = await audit_count(services, "bank_line.revealed")
    resp = await post_form(browser, f"/console/queue/{item.id}", f"/console/queue/{item.id}/reveal", {})
    assert resp.status_code == 200
    assert PAYER_NAME in resp.text and PAYER_ACCOUNT in resp.text and MEMO in resp.text
    assert await audit_count(services, "bank_line.revealed") == before + 1
