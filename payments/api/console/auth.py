"""Logging in (password, then the TOTP code when the account has one) and out."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie

from payments.api.console.web import (
    LOGIN_COOKIE,
    PATH,
    SESSION_COOKIE,
    CsrfRefused,
    checked_form,
    client_address,
    console_of,
    logged_in,
    login_csrf,
    login_csrf_ok,
    new_login_nonce,
    plain_form,
    redirect,
    render,
    session_cookie,
)
from payments.services.staff import LoginOutcome


def _login_page(
    request: Request, *, error: str = "", status: int = 200, template: str = "login.html"
) -> Response[str]:
    console = console_of(request)
    nonce = request.cookies.get(LOGIN_COOKIE) or new_login_nonce()
    response = render(
        request,
        template,
        status=status,
        page_path=f"{PATH}/login",
        error=error,
        csrf=login_csrf(console, nonce),
    )
    response.cookies.append(
        Cookie(
            key=LOGIN_COOKIE,
            value=nonce,
            path=PATH,
            httponly=True,
            secure=console.secure,
            samesite="strict",
            max_age=3600,
        )
    )
    return response


@get("/login", include_in_schema=False)
async def login_form(request: Request) -> Response[str]:
    state = await console_of(request).staff.session_for(request.cookies.get(SESSION_COOKIE))
    if state is not None and not state.mfa_pending:
        return redirect(f"{PATH}/queue")
    return _login_page(request)


@post("/login", include_in_schema=False, status_code=200)
async def login(request: Request) -> Response[str]:
    console = console_of(request)
    form = await plain_form(request)
    if not login_csrf_ok(console, request, form.get("_csrf_token")):
        raise CsrfRefused
    result = await console.staff.login(
        str(form.get("username", "")), str(form.get("password", "")), client_address(request)
    )
    if result.outcome is LoginOutcome.LOCKED:
        return _login_page(request, error="login_locked", status=429)
    if result.outcome is LoginOutcome.FAILED or result.token is None:
        return _login_page(request, error="login_failed", status=401)
    # A new token on every login: a session id planted before login is never the one used after it.
    if result.outcome is LoginOutcome.TOTP:
        return redirect(f"{PATH}/login/totp", session_cookie(console, result.token))
    return redirect(f"{PATH}/queue", session_cookie(console, result.token))


@get("/login/totp", include_in_schema=False)
async def totp_form(request: Request) -> Response[str]:
    state = await console_of(request).staff.session_for(request.cookies.get(SESSION_COOKIE))
    if state is None:
        return redirect(f"{PATH}/login")
    if not state.mfa_pending:
        return redirect(f"{PATH}/queue")
    return _login_page(request, template="totp.html")


@post("/login/totp", include_in_schema=False, status_code=200)
async def totp(request: Request) -> Response[str]:
    console = console_of(request)
    form = await plain_form(request)
    if not login_csrf_ok(console, request, form.get("_csrf_token")):
        raise CsrfRefused
    token = request.cookies.get(SESSION_COOKIE)
    outcome = await console.staff.verify_totp(token or "", str(form.get("code", "")))
    if outcome is LoginOutcome.OK:
        return redirect(f"{PATH}/queue")
    state = await console.staff.session_for(token)
    if state is None or not state.mfa_pending:  # too many wrong codes: the half-open session is gone
        response = _login_page(
            request, error="login_locked" if outcome is LoginOutcome.LOCKED else "totp_expired", status=401
        )
        response.cookies.append(session_cookie(console, None))
        return response
    return _login_page(request, template="totp.html", error="totp_wrong", status=401)


@post("/logout", include_in_schema=False, status_code=200)
async def logout(request: Request) -> Response[str]:
    ctx = await logged_in(request)
    await checked_form(request, ctx)
    await ctx.console.staff.logout(request.cookies.get(SESSION_COOKIE))
    return redirect(f"{PATH}/login?bye=1", session_cookie(ctx.console, None))


AUTH_ROUTES = [login_form, login, totp_form, totp, logout]
