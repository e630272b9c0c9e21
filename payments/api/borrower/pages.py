"""The borrower's pay page: server-rendered, works without JavaScript, Chinese first.

Every page about a link goes through `_link_or_neutral`, so an unknown, tampered, expired or revoked
token gets one and the same neutral page. Personal data and amounts appear only behind the identity
pass cookie; nothing personal is ever put in a URL.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import jinja2
from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, PathParameter
from litestar.static_files import create_static_files_router
from litestar.utils.scope.state import ScopeState

from payments.api.borrower.i18n import STRINGS, pick_language
from payments.domain.errors import DomainError
from payments.domain.links import AmountChoice
from payments.domain.money import format_yuan, parse_yuan
from payments.security.web import check_pass, issue_pass
from payments.services import qrcodes
from payments.services.borrower import LinkRef, VerifyResult
from providers.base import ProviderError, Scene

HERE = Path(__file__).parent
log = logging.getLogger("payrecon.pay_page")
BEIJING = timezone(timedelta(hours=8))
IDENTITY_COOKIE = "payrecon_idcheck"
LANG_COOKIE = "payrecon_lang"
HTML = "text/html"  # Litestar adds "; charset=utf-8"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)


def security_headers(form_targets: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            f"form-action 'self' {form_targets}; base-uri 'none'; frame-ancestors 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }


def _lang(request: Request) -> str:
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language", ""),
    )


def _switch_url(request: Request, template: str, other: str) -> str:
    if template == "neutral.html":
        # Relative to the current URL: the token stays out of the body, so every neutral page is identical.
        return f"?lang={other}"
    path = request.url.path
    if request.method != "GET":
        path = path.rsplit("/", 1)[0]  # /pay/{token}/verify and /start answer with the page at /pay/{token}
    return f"{path}?lang={other}"


def _render(request: Request, template: str, status: int = 200, **ctx: Any) -> Response[str]:
    lang = _lang(request)
    other = "en" if lang == "zh" else "zh"
    services = request.app.state.services
    html = _env.get_template(template).render(
        t=STRINGS[lang], lang=lang, yuan=format_yuan, switch_url=_switch_url(request, template, other), **ctx
    )
    response = Response(
        html, status_code=status, media_type=HTML, headers=security_headers(services.pay_form_targets)
    )
    if request.query_params.get("lang") in STRINGS:
        response.cookies.append(
            Cookie(
                key=LANG_COOKIE, value=lang, path="/pay", httponly=True, samesite="lax", max_age=365 * 86400
            )
        )
    return response


def _neutral(request: Request) -> Response[str]:
    # Same status and body for every kind of bad token: nothing to learn by probing.
    return _render(request, "neutral.html", status=404)


async def _link_or_neutral(request: Request, token: str) -> LinkRef | None:
    return await request.app.state.services.borrower.resolve(token)


def _passed(request: Request, ref: LinkRef) -> bool:
    return check_pass(
        request.app.state.services.web_secret, request.cookies.get(IDENTITY_COOKIE), ref.link_id
    )


def _csrf(request: Request) -> str:
    return ScopeState.from_scope(request.scope).csrf_token or ""


def _base(token: str) -> str:
    return f"/pay/{token}"


def _in_app_channel(user_agent: str) -> str | None:
    """The aggregated QR: inside Alipay or WeChat only that wallet can pay, so only it is offered."""
    if "AlipayClient" in user_agent:
        return "alipay"
    if "MicroMessenger" in user_agent:
        return "wechatpay"
    return None


def _scene(user_agent: str) -> Scene:
    mobile = any(m in user_agent for m in ("Mobile", "Android", "iPhone", "AlipayClient", "MicroMessenger"))
    return Scene.MOBILE if mobile else Scene.QR


def _client_ip(request: Request) -> str:
    host = request.client.host if request.client else "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "127.0.0.1"
    return host


@get("/pay/{token:str}", include_in_schema=False)
async def pay_page(request: Request, token: Annotated[str, PathParameter()]) -> Response[str]:
    ref = await _link_or_neutral(request, token)
    if ref is None:
        return _neutral(request)
    if ref.locked_until is not None:
        return _render(request, "locked.html", status=429)
    if not _passed(request, ref):
        return _render(
            request, "verify.html", check=ref.identity_check, base=_base(token), csrf=_csrf(request), error=""
        )
    return await _pay_form(request, ref, error="")


def _error_text(t: dict[str, str], error: str, choice: AmountChoice | None) -> str:
    """The borrower's words for what went wrong: never the API's English messages or amounts in fen."""
    if not error:
        return ""
    if error == "amount" and choice is not None:
        if choice.fixed:
            return t["amount_fixed"].format(amount=format_yuan(choice.min_fen))
        return t["amount_invalid"].format(min=format_yuan(choice.min_fen), max=format_yuan(choice.max_fen))
    if error in ("channel", "provider"):
        return t[f"{error}_unavailable"]
    return t["nothing_due"]


async def _pay_form(request: Request, ref: LinkRef, error: str, status: int = 200) -> Response[str]:
    """`error`: "" or what failed ("amount", "channel", "provider", anything else: nothing payable)."""
    due = await request.app.state.services.borrower.due(ref)
    error = _error_text(STRINGS[_lang(request)], error, due.choice)
    in_app = _in_app_channel(request.headers.get("user-agent", ""))
    channels = [c for c in ref.channels if in_app is None or c == in_app]
    return _render(
        request,
        "pay.html",
        status=status,
        due=due,
        channels=channels,
        base=_base(ref.token),
        csrf=_csrf(request),
        error=error,
    )


@post("/pay/{token:str}/verify", include_in_schema=False, status_code=200)
async def verify(
    request: Request,
    token: Annotated[str, PathParameter()],
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[str]:
    ref = await _link_or_neutral(request, token)
    if ref is None:
        return _neutral(request)
    result, left = await request.app.state.services.borrower.verify_identity(ref, str(data.get("last4", "")))
    if result == VerifyResult.LOCKED:
        return _render(request, "locked.html", status=429)
    if result == VerifyResult.WRONG:
        return _render(
            request,
            "verify.html",
            status=422,
            check=ref.identity_check,
            base=_base(token),
            csrf=_csrf(request),
            error=STRINGS[_lang(request)]["wrong"].format(left=left),
        )
    response: Response[str] = Response(
        "", status_code=303, headers={"Location": _base(token), "Cache-Control": "no-store"}
    )
    secure = request.app.state.services.settings.server.public_base_url.startswith("https://")
    response.cookies.append(
        Cookie(
            key=IDENTITY_COOKIE,
            value=issue_pass(request.app.state.services.web_secret, ref.link_id),
            path=_base(token),
            httponly=True,
            secure=secure,
            samesite="lax",
            max_age=30 * 60,
        )
    )
    return response


@post("/pay/{token:str}/start", include_in_schema=False, status_code=200)
async def start(
    request: Request,
    token: Annotated[str, PathParameter()],
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[str]:
    ref = await _link_or_neutral(request, token)
    if ref is None:
        return _neutral(request)
    if not _passed(request, ref):
        return Response("", status_code=303, headers={"Location": _base(token)})
    services = request.app.state.services
    user_agent = request.headers.get("user-agent", "")
    try:
        channel = str(data.get("channel", ""))
        amount_fen = parse_yuan(str(data.get("amount", "")), "amount")
        started = await services.borrower.start_payment(
            ref,
            amount_fen,
            channel,
            _scene(user_agent),
            # Display only: the provider sends the browser back here, and the page asks the server.
            return_url=f"{services.public_base_url}{_base(ref.token)}/orders/latest",
            client_ip=_client_ip(request),
        )
    except DomainError as exc:
        return await _pay_form(
            request, ref, error=exc.problems[0].field if exc.problems else "conflict", status=exc.status
        )
    except ProviderError as exc:
        log.warning("provider %s refused or failed to create an order: %s", channel, exc.code)
        return await _pay_form(request, ref, error="provider", status=502)
    action = started.action
    if action.kind == "redirect":
        return Response("", status_code=303, headers={"Location": action.url, "Cache-Control": "no-store"})
    if action.kind == "form":
        return _render(
            request,
            "card_form.html",
            action=action.url,
            fields=list(action.fields.items()),
            base=_base(token),
        )
    return Response("", status_code=303, headers={"Location": f"{_base(token)}/orders/{started.order_id}"})


@get("/pay/{token:str}/orders/{order_id:str}", include_in_schema=False)
async def order_page(
    request: Request, token: Annotated[str, PathParameter()], order_id: Annotated[str, PathParameter()]
) -> Response[str]:
    ref = await _link_or_neutral(request, token)
    if ref is None:
        return _neutral(request)
    if not _passed(request, ref):
        return Response("", status_code=303, headers={"Location": _base(token)})
    services = request.app.state.services
    order = (
        await services.borrower.latest_order(ref)
        if order_id == "latest"
        else await services.borrower.order_view(ref, order_id)
    )
    if order is None:
        return _neutral(request)
    qr_svg, cashier_url = "", ""
    if order.status == "pending":
        qr_payload = await services.borrower.qr_payload(order.order_id)
        if qr_payload:
            qr_svg = (await qrcodes.svg(qr_payload)).decode()
            cashier_url = services.sandbox_cashier_url(order.provider, qr_payload) or ""
    due = await services.borrower.due(ref)
    paid_at = order.paid_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if order.paid_at else ""
    return _render(
        request,
        "order.html",
        order=order,
        qr_svg=qr_svg,
        cashier_url=cashier_url,
        base=_base(token),
        creditor=due.creditor_name,
        paid_at=paid_at,
    )


@get("/pay/{token:str}/orders/{order_id:str}/status", include_in_schema=False)
async def order_status(
    request: Request, token: Annotated[str, PathParameter()], order_id: Annotated[str, PathParameter()]
) -> Response[dict[str, str]]:
    ref = await _link_or_neutral(request, token)
    order = (
        await request.app.state.services.borrower.order_view(ref, order_id)
        if ref and _passed(request, ref)
        else None
    )
    if order is None:
        return Response({"status": "unknown"}, status_code=404, headers={"Cache-Control": "no-store"})
    return Response({"status": order.status}, headers={"Cache-Control": "no-store"})


@get("/pay/{token:str}/qr.png", include_in_schema=False)
async def link_qr_png(request: Request, token: Annotated[str, PathParameter()]) -> Response[bytes]:
    return await _link_qr(request, token, "png")


@get("/pay/{token:str}/qr.svg", include_in_schema=False)
async def link_qr_svg(request: Request, token: Annotated[str, PathParameter()]) -> Response[bytes]:
    return await _link_qr(request, token, "svg")


async def _link_qr(request: Request, token: str, kind: str) -> Response[bytes]:
    ref = await _link_or_neutral(request, token)
    if ref is None:
        return Response(b"", status_code=404, headers={"Cache-Control": "no-store"})
    url = request.app.state.services.links.url_for(token)
    body = await (qrcodes.png(url) if kind == "png" else qrcodes.svg(url))
    media = "image/png" if kind == "png" else "image/svg+xml"
    # The image only encodes the URL, which never changes; browsers may keep it for a day.
    return Response(
        body,
        media_type=media,
        headers={"Cache-Control": "private, max-age=86400", "Referrer-Policy": "no-referrer"},
    )


def borrower_router() -> Router:
    static = create_static_files_router(
        path="/pay-static", directories=[HERE / "static"], include_in_schema=False, cache_control=None
    )
    return Router(
        path="/",
        route_handlers=[pay_page, verify, start, order_page, order_status, link_qr_png, link_qr_svg, static],
        include_in_schema=False,
    )
