"""Records a reviewer looks up: cases (with the reveal of the debtor), payments, the statement
exceptions with their resolution, and webhook messages with replay."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import PathParameter

from payments.api.console.i18n import STRINGS
from payments.api.console.web import (
    PATH,
    Ctx,
    checked_form,
    error_text,
    forbidden,
    lang_of,
    logged_in,
    not_found,
    redirect,
    render,
)
from payments.domain.errors import DomainError, NotFound
from payments.services.refunds import confirm_manual_refund
from payments.services.staff import Forbidden

Id = Annotated[str, PathParameter(max_length=40)]
MESSAGE_STATES = ("pending", "delivered", "failed", "skipped")


def _msg(request: Request) -> str:
    msg = request.query_params.get("msg", "")
    return f"msg_{msg}" if f"msg_{msg}" in STRINGS[lang_of(request)] else ""


# -- cases -------------------------------------------------------------------------------------------


@get("/cases", include_in_schema=False)
async def cases(request: Request) -> Response[str]:
    ctx = await logged_in(request)
    q = (request.query_params.get("q") or "").strip()[:64]
    found = await ctx.console.views.find_cases(ctx.staff, q) if q else []
    return render(request, "cases.html", ctx=ctx, nav="cases", q=q, found=found)


async def _case_page(request: Request, ctx: Ctx, case_id: str, *, reveal: bool) -> Response[str]:
    try:
        detail = await ctx.console.views.case(ctx.staff, case_id, reveal=reveal)
    except NotFound:
        return not_found(request, ctx)
    return render(request, "case.html", ctx=ctx, nav="cases", page_path=f"{PATH}/cases/{case_id}", c=detail)


@get("/cases/{case_id:str}", include_in_schema=False)
async def case(request: Request, case_id: Id) -> Response[str]:
    ctx = await logged_in(request)
    return await _case_page(request, ctx, case_id, reveal=False)


@post("/cases/{case_id:str}/reveal", include_in_schema=False, status_code=200)
async def case_reveal(request: Request, case_id: Id) -> Response[str]:
    ctx = await logged_in(request)
    await checked_form(request, ctx)
    try:
        return await _case_page(request, ctx, case_id, reveal=True)
    except Forbidden:
        return forbidden(request, ctx, "reveal_forbidden")


# -- payments ----------------------------------------------------------------------------------------


async def _payment_page(request: Request, ctx: Ctx, payment_id: str, *, reveal: bool) -> Response[str]:
    try:
        detail = await ctx.console.views.payment(ctx.staff, payment_id, reveal=reveal)
    except NotFound:
        return not_found(request, ctx)
    return render(
        request,
        "payment.html",
        ctx=ctx,
        nav="queue",
        page_path=f"{PATH}/payments/{payment_id}",
        p=detail,
        msg=_msg(request) if request.method == "GET" else "",
    )


@get("/payments/{payment_id:str}", include_in_schema=False)
async def payment(request: Request, payment_id: Id) -> Response[str]:
    ctx = await logged_in(request)
    return await _payment_page(request, ctx, payment_id, reveal=False)


@post("/payments/{payment_id:str}/reveal", include_in_schema=False, status_code=200)
async def payment_reveal(request: Request, payment_id: Id) -> Response[str]:
    ctx = await logged_in(request)
    await checked_form(request, ctx)
    try:
        return await _payment_page(request, ctx, payment_id, reveal=True)
    except Forbidden:
        return forbidden(request, ctx, "reveal_forbidden")


@post("/payments/{payment_id:str}/refunds/{refund_id:str}/confirm", include_in_schema=False, status_code=200)
async def confirm_refund(request: Request, payment_id: Id, refund_id: Id) -> Response[str]:
    """Finance paid a bank-transfer refund back by hand: an approver records it, which takes the
    money back from the cases (allocations reversed, a closed case reopened)."""
    ctx = await logged_in(request)
    await checked_form(request, ctx)
    if not ctx.staff.can_approve:
        return forbidden(request, ctx)
    try:
        refund = await confirm_manual_refund(
            request.app.state.services, refund_id, actor=ctx.staff.actor, client_ids=ctx.staff.client_ids
        )
    except NotFound:
        return not_found(request, ctx)
    except DomainError:  # already confirmed, or not a refund paid by hand
        return redirect(f"{PATH}/payments/{payment_id}?msg=refund_not_confirmed")
    return redirect(f"{PATH}/payments/{refund.payment_id}?msg=refund_confirmed")


# -- statement exceptions ----------------------------------------------------------------------------


async def _exceptions_page(
    request: Request, ctx: Ctx, *, resolved: bool, error: str = "", status: int = 200
) -> Response[str]:
    rows = await ctx.console.views.exceptions(ctx.staff, resolved=resolved)
    return render(
        request,
        "exceptions.html",
        ctx=ctx,
        status=status,
        nav="exceptions",
        page_path=f"{PATH}/exceptions",
        rows=rows,
        resolved=resolved,
        msg=_msg(request) if request.method == "GET" else "",
        error=error,
    )


@get("/exceptions", include_in_schema=False)
async def exceptions(request: Request) -> Response[str]:
    ctx = await logged_in(request)
    return await _exceptions_page(request, ctx, resolved=request.query_params.get("show") == "resolved")


@post("/exceptions/{exception_id:str}/resolve", include_in_schema=False, status_code=200)
async def resolve_exception(request: Request, exception_id: Id) -> Response[str]:
    ctx = await logged_in(request)
    form = await checked_form(request, ctx)
    try:
        await ctx.console.review.resolve_exception(ctx.staff, exception_id, str(form.get("note", "")))
    except NotFound:
        return not_found(request, ctx)
    except DomainError as exc:
        t = STRINGS[lang_of(request)]
        return await _exceptions_page(
            request, ctx, resolved=False, error=error_text(t, exc), status=exc.status
        )
    return redirect(f"{PATH}/exceptions?msg=resolved")


# -- webhook messages --------------------------------------------------------------------------------


@get("/webhooks", include_in_schema=False)
async def webhooks(request: Request) -> Response[str]:
    ctx = await logged_in(request)
    status = request.query_params.get("status") or ""
    status = status if status in MESSAGE_STATES else ""
    rows = await ctx.console.views.messages(ctx.staff, status=status or None)
    return render(
        request, "webhooks.html", ctx=ctx, nav="webhooks", rows=rows, shown=status, states=MESSAGE_STATES
    )


async def _message_page(
    request: Request, ctx: Ctx, message_id: str, *, error: str = "", status: int = 200
) -> Response[str]:
    try:
        detail = await ctx.console.views.message(ctx.staff, message_id)
    except NotFound:
        return not_found(request, ctx)
    return render(
        request,
        "message.html",
        ctx=ctx,
        status=status,
        nav="webhooks",
        page_path=f"{PATH}/webhooks/{message_id}",
        m=detail,
        msg=_msg(request) if request.method == "GET" else "",
        error=error,
    )


@get("/webhooks/{message_id:str}", include_in_schema=False)
async def message(request: Request, message_id: Id) -> Response[str]:
    ctx = await logged_in(request)
    return await _message_page(request, ctx, message_id)


@post("/webhooks/{message_id:str}/replay", include_in_schema=False, status_code=200)
async def replay(request: Request, message_id: Id) -> Response[str]:
    ctx = await logged_in(request)
    await checked_form(request, ctx)
    try:
        # The scope check comes first: replay_message itself would take any client's id given None.
        detail = await ctx.console.views.message(ctx.staff, message_id)
        await request.app.state.services.webhooks.replay_message(
            detail.message.client_id, message_id, actor=ctx.staff.actor
        )
    except NotFound:
        return not_found(request, ctx)
    except DomainError as exc:
        t = STRINGS[lang_of(request)]
        return await _message_page(request, ctx, message_id, error=error_text(t, exc), status=exc.status)
    return redirect(f"{PATH}/webhooks/{message_id}?msg=replayed")


RECORD_ROUTES = [
    cases,
    case,
    case_reveal,
    payment,
    payment_reveal,
    confirm_refund,
    exceptions,
    resolve_exception,
    webhooks,
    message,
    replay,
]
