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

from payments.api.borrower import in_app
from payments.api.borrower.i18n import STRINGS, pick_language
from payments.domain.errors import DomainError
from payments.domain.links import AmountChoice
from payments.domain.money import format_yuan, parse_yuan
from payments.security.web import check_pass, issue_pass
from payments.services import qrcodes
from payments.services.borrower import LinkRef, VerifyResult
from payments.services.orders import StartedOrder
from providers.base import InAppPayments, ProviderError, Scene

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
    # The return from a wallet's OAuth answers errors with the pay page, which lives at /pay/{token}.
    path = path.split("/in-app/", 1)[0]
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


def _in_app_rail(request: Request, channel: str) -> InAppPayments | None:
    """The rail, when this browser is its own app's and the rail can take payment in there."""
    if _in_app_channel(request.headers.get("user-agent", "")) != channel:
        return None
    rail = request.app.state.services.rails.providers.get(channel)
    return rail if isinstance(rail, InAppPayments) and rail.in_app_ready() else None


def _secure(request: Request) -> bool:
    return bool(request.app.state.services.settings.server.public_base_url.startswith("https://"))


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
    if error == "auth":
        return t["auth_failed"]
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
        rail = _in_app_rail(request, channel)
        if rail is not None:
            # Checked now, so a wrong amount is told before the trip through WeChat's OAuth.
            await services.borrower.check_payment(ref, amount_fen, channel)
            return _to_payer_auth(request, ref, rail, channel, amount_fen)
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
    return _after_start(request, token, started)


def _after_start(request: Request, token: str, started: StartedOrder) -> Response[str]:
    """Where the browser goes once the provider has the order: its page, its form, or our order page
    (which shows a QR, calls the wallet's bridge, or waits)."""
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


def _to_payer_auth(
    request: Request, ref: LinkRef, rail: InAppPayments, channel: str, amount_fen: int
) -> Response[str]:
    services = request.app.state.services
    state = in_app.new_state()
    back = f"{services.public_base_url}{_base(ref.token)}/in-app/{channel}"
    response: Response[str] = Response(
        "",
        status_code=303,
        headers={"Location": rail.payer_auth_url(back, state), "Cache-Control": "no-store"},
    )
    response.cookies.append(
        Cookie(
            key=in_app.COOKIE,
            value=in_app.seal(
                services.web_secret, in_app.PendingAuth(ref.link_id, channel, amount_fen, state)
            ),
            path=_base(ref.token),
            httponly=True,
            secure=_secure(request),
            # Lax: WeChat's redirect back is a top-level GET from another site, which Lax lets through.
            samesite="lax",
            max_age=in_app.TTL_SECONDS,
        )
    )
    return response


@get("/pay/{token:str}/in-app/{channel:str}", include_in_schema=False)
async def in_app_return(
    request: Request, token: Annotated[str, PathParameter()], channel: Annotated[str, PathParameter()]
) -> Response[str]:
    """Where WeChat's OAuth sends the browser back, with `code` and our `state` in the query."""
    ref = await _link_or_neutral(request, token)
    if ref is None:
        return _neutral(request)
    if not _passed(request, ref):
        return Response("", status_code=303, headers={"Location": _base(token)})
    services = request.app.state.services
    rail = services.rails.providers.get(channel)
    if not isinstance(rail, InAppPayments):
        return _neutral(request)
    pending = in_app.unseal(
        services.web_secret,
        request.cookies.get(in_app.COOKIE),
        ref.link_id,
        channel,
        request.query_params.get("state", ""),
    )
    code = request.query_params.get("code", "")
    if pending is None or not code:
        # A stale tab, a second use, or someone else's code. The cookie stays: this browser's own
        # return may still be on its way.
        log.warning("in-app payer authorisation for %s refused: no matching state", channel)
        return await _pay_form(request, ref, error="auth", status=400)
    try:
        payer_id = await rail.payer_id_for_code(code)
        started = await services.borrower.start_payment(
            ref,
            pending.amount_fen,
            channel,
            Scene.IN_APP,
            return_url=f"{services.public_base_url}{_base(ref.token)}/orders/latest",
            client_ip=_client_ip(request),
            payer_id=payer_id,
        )
    except DomainError as exc:
        error = exc.problems[0].field if exc.problems else "conflict"
        return _forget_auth(await _pay_form(request, ref, error=error, status=exc.status), token)
    except ProviderError as exc:
        # WeChat's error code only: never the OAuth code, the openid or WeChat's wording.
        log.warning("provider %s refused the payer authorisation or the in-app order: %s", channel, exc.code)
        return _forget_auth(await _pay_form(request, ref, error="provider", status=502), token)
    # A redirect, so the code leaves the address bar and a reload cannot replay it.
    return _forget_auth(_after_start(request, token, started), token)


def _forget_auth(response: Response[str], token: str) -> Response[str]:
    response.delete_cookie(in_app.COOKIE, path=_base(token))
    return response


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
    bridge: dict[str, str] | None = None
    bridge_script = ""
    if order.status == "pending":
        qr_payload = await services.borrower.qr_payload(order.order_id)
        if qr_payload:
            qr_svg = (await qrcodes.svg(qr_payload)).decode()
            cashier_url = services.sandbox_cashier_url(order.provider, qr_payload) or ""
        else:
            bridge, bridge_script = await _bridge(request, order.order_id, order.provider)
    due = await services.borrower.due(ref)
    paid_at = order.paid_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if order.paid_at else ""
    return _render(
        request,
        "order.html",
        order=order,
        qr_svg=qr_svg,
        cashier_url=cashier_url,
        bridge=bridge,
        bridge_script=bridge_script,
        base=_base(token),
        creditor=due.creditor_name,
        paid_at=paid_at,
    )


async def _bridge(request: Request, order_id: str, provider: str) -> tuple[dict[str, str] | None, str]:
    """For an order to be paid through the wallet's in-page bridge: its parameters, signed afresh for
    this view, and in sandbox mode the script that stands in for the bridge."""
    services = request.app.state.services
    rail = services.rails.providers.get(provider)
    if not isinstance(rail, InAppPayments):
        return None, ""
    provider_ref = await services.borrower.provider_ref(order_id)
    params = rail.bridge_params(provider_ref) if provider_ref else None
    if params is None:
        return None, ""
    sandbox = services.rails.sandboxes.get(provider)
    return dict(params), str(getattr(sandbox, "bridge_script_url", "") or "")


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
        route_handlers=[
            pay_page,
            verify,
            start,
            in_app_return,
            order_page,
            order_status,
            link_qr_png,
            link_qr_svg,
            static,
        ],
        include_in_schema=False,
    )
