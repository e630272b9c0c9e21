"""Plumbing shared by the console's pages: who is logged in, the CSRF check, the language, rendering
with the same strict headers as the pay page, and the answers for "log in", "not found" and "refused".
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from litestar import Request, Response
from litestar.datastructures import Cookie, FormMultiDict

from payments.api.borrower.i18n import pick_language
from payments.api.console.i18n import STRINGS, label
from payments.domain.errors import DomainError, NotFound
from payments.domain.money import format_yuan
from payments.security.web import derive
from payments.services.console_views import ConsoleViews
from payments.services.review import ReviewService, refund_starter
from payments.services.staff import SessionState, Staff, StaffService
from payments.settings import ConsoleSettings

HERE = Path(__file__).parent
BEIJING = timezone(timedelta(hours=8))
SESSION_COOKIE = "payrecon_console"
LOGIN_COOKIE = "payrecon_console_login"  # binds the login form's CSRF token before there is a session
LANG_COOKIE = "payrecon_console_lang"
PATH = "/console"
HTML = "text/html"
CSRF_FIELD = "_csrf_token"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)


def security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }


@dataclass
class Console:
    """The console's services, built once per app from the shared container."""

    staff: StaffService
    review: ReviewService
    views: ConsoleViews
    settings: ConsoleSettings
    secure: bool
    login_key: bytes


def console_of(request: Request) -> Console:
    services = request.app.state.services
    cached = request.app.state.get("console")
    if cached is not None and cached[0] is services:
        return cached[1]
    settings = services.settings
    console = Console(
        staff=StaffService(services.db, services.pii, settings.console, services.web_secret),
        review=ReviewService(services.db, settings.console, refund_starter(services)),
        views=ConsoleViews(services.db, services.pii),
        settings=settings.console,
        # Secure cookies whenever real money moves or the address is https; plain http only in sandbox.
        secure=settings.mode == "live" or settings.server.public_base_url.startswith("https://"),
        login_key=derive(services.web_secret, "console-login"),
    )
    request.app.state["console"] = (services, console)
    return console


class LoginRequired(Exception):
    """No live session (or one still waiting for its TOTP code): the answer is a redirect."""

    def __init__(self, mfa_pending: bool = False) -> None:
        super().__init__()
        self.mfa_pending = mfa_pending


class CsrfRefused(Exception):
    """A POST without the session's token."""


class BadInput(Exception):
    """A NUL character in the URL or a form: PostgreSQL cannot store or compare it in text, so it is
    refused before any query sees it (a 400 page, never a 500)."""


def refuse_nul(request: Request) -> None:
    """Before every console request: the path and the query string carry no NUL."""
    if "\x00" in request.url.path or "%00" in request.url.query.lower() or "\x00" in request.url.query:
        raise BadInput


def _refuse_nul_in_form(form: FormMultiDict) -> None:
    for key, value in form.multi_items():
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise BadInput


@dataclass(frozen=True)
class Ctx:
    console: Console
    state: SessionState

    @property
    def staff(self) -> Staff:
        return self.state.staff


async def logged_in(request: Request) -> Ctx:
    console = console_of(request)
    state = await console.staff.session_for(request.cookies.get(SESSION_COOKIE))
    if state is None or state.mfa_pending:
        raise LoginRequired(state is not None)
    return Ctx(console, state)


async def checked_form(request: Request, ctx: Ctx) -> FormMultiDict:
    form = await request.form()
    if not ctx.console.staff.csrf_ok(ctx.state, form.get(CSRF_FIELD)):
        raise CsrfRefused
    _refuse_nul_in_form(form)
    return form


async def plain_form(request: Request) -> FormMultiDict:
    """A form before there is a session (login, TOTP): checked for NUL like every other."""
    form = await request.form()
    _refuse_nul_in_form(form)
    return form


def login_csrf(console: Console, nonce: str) -> str:
    return hmac.new(console.login_key, nonce.encode(), hashlib.sha256).hexdigest()


def login_csrf_ok(console: Console, request: Request, submitted: object) -> bool:
    nonce = request.cookies.get(LOGIN_COOKIE)
    return (
        bool(nonce)
        and isinstance(submitted, str)
        and hmac.compare_digest(login_csrf(console, nonce), submitted)
    )


def new_login_nonce() -> str:
    return secrets.token_urlsafe(16)


def lang_of(request: Request) -> str:
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language", ""),
    )


def client_address(request: Request) -> str:
    host = request.client.host if request.client else "127.0.0.1"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return "127.0.0.1"


def when(value: datetime | None, *, seconds: bool = False) -> str:
    if value is None:
        return ""
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _switch_url(request: Request, page_path: str | None, other: str) -> str:
    if page_path == "":
        # Relative to the current URL: the id stays out of the body, so every not-found page is identical.
        return f"?lang={other}"
    if page_path is not None:
        return f"{page_path}?lang={other}"
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return f"{request.url.path}?{urlencode([*params, ('lang', other)])}"


def render(
    request: Request,
    template: str,
    *,
    ctx: Ctx | None = None,
    status: int = 200,
    page_path: str | None = None,
    **values: Any,
) -> Response[str]:
    """`page_path`: for pages answering a POST, the GET address the language link should lead to."""
    lang = lang_of(request)
    other = "en" if lang == "zh" else "zh"
    t = STRINGS[lang]
    context: dict[str, Any] = {
        "t": t,
        "lang": lang,
        "yuan": format_yuan,
        "when": when,
        "label": lambda text: label(text, lang),
        "switch_url": _switch_url(
            request, page_path if request.method == "GET" or page_path is not None else PATH, other
        ),
        "staff": ctx.staff if ctx else None,
        "csrf": ctx.console.staff.csrf_token(ctx.state) if ctx else "",
        "nav": "",
    }
    context.update(values)
    html = _env.get_template(template).render(**context)
    response = Response(html, status_code=status, media_type=HTML, headers=security_headers())
    if request.query_params.get("lang") in STRINGS:
        response.cookies.append(
            Cookie(
                key=LANG_COOKIE, value=lang, path=PATH, httponly=True, samesite="strict", max_age=365 * 86400
            )
        )
    return response


def redirect(location: str, *cookies: Cookie) -> Response[str]:
    response = Response("", status_code=303, headers={"Location": location, **security_headers()})
    for cookie in cookies:
        response.cookies.append(cookie)
    return response


def session_cookie(console: Console, token: str | None) -> Cookie:
    """None clears it."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token or "",
        path=PATH,
        httponly=True,
        secure=console.secure,
        samesite="strict",
        max_age=None if token else 0,
    )


def error_text(t: dict[str, str], exc: DomainError) -> str:
    """The user's words for a refused action: a known code in their language, else the detail."""
    code = getattr(exc, "code", None)
    if code and f"err_{code}" in t:
        return t[f"err_{code}"].format_map(_Blank(getattr(exc, "params", {})))
    if isinstance(exc, NotFound):
        return t["not_found_body"]
    if exc.problems and exc.problems[0].field == "amount":
        return t["err_amount"]
    return exc.detail


class _Blank(dict[str, str]):
    """A placeholder the error did not fill stays empty rather than failing the page."""

    def __missing__(self, key: str) -> str:
        return ""


def not_found(request: Request, ctx: Ctx | None) -> Response[str]:
    """One page for an unknown id and for another client's id: nothing to learn by guessing."""
    return render(
        request,
        "error.html",
        ctx=ctx,
        status=404,
        page_path="",
        title_key="not_found_title",
        body_key="not_found_body",
    )


def forbidden(request: Request, ctx: Ctx | None, body_key: str = "forbidden_body") -> Response[str]:
    return render(
        request,
        "error.html",
        ctx=ctx,
        status=403,
        page_path="",
        title_key="forbidden_title",
        body_key=body_key,
    )


def login_redirect(request: Request, exc: Exception) -> Response[str]:
    if getattr(exc, "mfa_pending", False):
        return redirect(f"{PATH}/login/totp")
    return redirect(f"{PATH}/login", session_cookie(console_of(request), None))


def bad_input(request: Request, _exc: Exception) -> Response[str]:
    return render(
        request,
        "error.html",
        status=400,
        page_path="",
        title_key="bad_input_title",
        body_key="bad_input_body",
    )


def csrf_refused(request: Request, _exc: Exception) -> Response[str]:
    return render(
        request, "error.html", status=403, page_path="", title_key="forbidden_title", body_key="csrf_body"
    )
