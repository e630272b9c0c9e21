"""Logging in and out of the console: sessions, wrong passwords, lockout, TOTP, CSRF on the forms."""

from __future__ import annotations

import httpx

from payments.persistence.tables_console import StaffSession
from payments.services.container import Services
from payments.services.staff import token_hash, totp_code
from tests.console.conftest import (
    NewBrowser,
    add_staff,
    audit_count,
    csrf_of,
    logged_in,
    login,
)


async def test_the_console_asks_for_a_login_first(new_browser: NewBrowser) -> None:
    browser = await new_browser()
    resp = await browser.get("/console/queue")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/console/login"


async def test_login_opens_the_queue_with_a_strict_httponly_cookie(
    services: Services, new_browser: NewBrowser, tenant
) -> None:
    user = await add_staff(services, "clerk", tenant.client_id)
    browser = await new_browser()
    resp = await login(browser, user)
    assert resp.status_code == 303 and resp.headers["location"] == "/console/queue"
    cookie = resp.headers["set-cookie"].lower()
    assert "payrecon_console=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "path=/console" in cookie
    page = await browser.get("/console/queue")
    assert page.status_code == 200
    assert user.username in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]


async def test_the_session_is_stored_only_as_a_hash(
    services: Services, new_browser: NewBrowser, tenant
) -> None:
    user = await add_staff(services, "clerk", tenant.client_id)
    browser = await new_browser()
    await login(browser, user)
    token = browser.cookies["payrecon_console"]
    async with services.db.sessions() as session:
        assert await session.get(StaffSession, token) is None
        assert await session.get(StaffSession, token_hash(token)) is not None


async def test_a_wrong_password_gets_the_same_answer_as_an_unknown_user(
    services: Services, new_browser: NewBrowser, tenant
) -> None:
    user = await add_staff(services, "clerk", tenant.client_id)
    wrong = await login(await new_browser(), user, password="not the password at all")
    unknown_user = await add_staff(services, "clerk", tenant.client_id)
    unknown_user.username = "nobody-" + unknown_user.username
    unknown = await login(await new_browser(), unknown_user)
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码不正确" in wrong.text and "用户名或密码不正确" in unknown.text
    assert "payrecon_console=" not in wrong.headers.get("set-cookie", "").replace("payrecon_console_", "")


async def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(
    services: Services, new_browser: NewBrowser, tenant
) -> None:
    user = await add_staff(services, "clerk", tenant.client_id)
    browser = await new_browser()
    for _ in range(4):
        assert (await login(browser, user, password="wrong password 123")).status_code == 401
    fifth = await login(browser, user, password="wrong password 123")
    assert fifth.status_code == 429
    right = await login(await new_browser(), user)
    assert right.status_code == 429
    assert "15" in right.text
    assert await audit_count(services, "staff.locked", user.user_id) == 1


async def test_logout_ends_the_session(services: Services, new_browser: NewBrowser, tenant) -> None:
    user = await add_staff(services, "clerk", tenant.client_id)
    browser = await logged_in(new_browser, user)
    token = browser.cookies["payrecon_console"]
    page = await browser.get("/console/queue")
    resp = await browser.post("/console/logout", data={"_csrf_token": csrf_of(page.text)})
    assert resp.status_code == 303
    async with services.db.sessions() as session:
        assert await session.get(StaffSession, token_hash(token)) is None
    again = httpx.AsyncClient(transport=browser._transport, base_url=str(browser.base_url))  # the old cookie
    again.cookies.set("payrecon_console", token, path="/console")
    assert (await again.get("/console/queue")).status_code == 303
    await again.aclose()


async def test_a_post_without_the_csrf_token_is_refused(
    services: Services, new_browser: NewBrowser, tenant
) -> None:
    user = await add_staff(services, "clerk", tenant.client_id)
    browser = await logged_in(new_browser, user)
    resp = await browser.post("/console/logout", data={})
    assert resp.status_code == 403
    assert (await browser.get("/console/queue")).status_code == 200  # still logged in


async def test_the_login_form_refuses_a_post_without_its_token(
    services: Services, new_browser: NewBrowser, tenant
) -> None:
    user = await add_staff(services, "clerk", tenant.client_id)
    browser = await new_browser()
    resp = await browser.post("/console/login", data={"username": user.username, "password": user.password})
    assert resp.status_code == 403


async def test_an_account_with_totp_needs_the_code_after_the_password(
    services: Services, new_browser: NewBrowser, tenant
) -> None:
    user = await add_staff(services, "approver", tenant.client_id, totp=True)
    assert user.totp_secret
    browser = await new_browser()
    resp = await login(browser, user)
    assert resp.status_code == 303 and resp.headers["location"] == "/console/login/totp"
    # Half logged in: the pages send the user back to the code.
    half = await browser.get("/console/queue")
    assert half.status_code == 303 and half.headers["location"] == "/console/login/totp"
    form = await browser.get("/console/login/totp")
    wrong = await browser.post(
        "/console/login/totp", data={"code": "000000", "_csrf_token": csrf_of(form.text)}
    )
    assert wrong.status_code == 401
    code = totp_code(user.totp_secret)
    ok = await browser.post("/console/login/totp", data={"code": code, "_csrf_token": csrf_of(wrong.text)})
    assert ok.status_code == 303 and ok.headers["location"] == "/console/queue"
    assert (await browser.get("/console/queue")).status_code == 200


async def test_a_totp_code_works_only_once(services: Services, new_browser: NewBrowser, tenant) -> None:
    user = await add_staff(services, "approver", tenant.client_id, totp=True)
    assert user.totp_secret
    code = totp_code(user.totp_secret)
    first = await new_browser()
    await login(first, user)
    form = await first.get("/console/login/totp")
    assert (
        await first.post("/console/login/totp", data={"code": code, "_csrf_token": csrf_of(form.text)})
    ).status_code == 303
    second = await new_browser()
    await login(second, user)
    form = await second.get("/console/login/totp")
    replayed = await second.post(
        "/console/login/totp", data={"code": code, "_csrf_token": csrf_of(form.text)}
    )
    assert replayed.status_code == 401


async def test_an_idle_session_expires(services: Services, new_browser: NewBrowser, tenant) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    user = await add_staff(services, "clerk", tenant.client_id)
    browser = await logged_in(new_browser, user)
    token = browser.cookies["payrecon_console"]
    idle = services.settings.console.session_idle_minutes
    async with services.db.transaction() as session:
        row = await session.get_one(StaffSession, token_hash(token))
        await session.execute(
            update(StaffSession)
            .where(StaffSession.token_hash == row.token_hash)
            .values(last_seen_at=row.last_seen_at - timedelta(minutes=idle + 1))
        )
    assert (await browser.get("/console/queue")).status_code == 303


def test_many_failures_from_one_address_refuse_it_for_a_while() -> None:
    from payments.services.staff import AddressWindow

    window = AddressWindow(limit=3, seconds=60)
    for i in range(3):
        window.fail("203.0.113.7", now=100.0 + i)
    assert window.blocked("203.0.113.7", now=103.0)
    assert not window.blocked("198.51.100.1", now=103.0)
    assert not window.blocked("203.0.113.7", now=200.0)


def test_passwords_are_stored_as_scrypt_hashes() -> None:
    from payments.services.staff import hash_password, verify_password

    stored = hash_password("a long enough password")
    assert stored.startswith("scrypt$") and "a long enough password" not in stored
    assert verify_password("a long enough password", stored)
    assert not verify_password("a long enough passwore", stored)
    assert hash_password("a long enough password") != stored  # salted
