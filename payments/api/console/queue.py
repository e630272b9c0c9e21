"""The review queue: the list with its filters, one payment with its candidates and an allocation
preview, the actions on it, and the four-eyes approvals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

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
from payments.domain.errors import DomainError, FieldError, NotFound
from payments.domain.money import format_yuan, parse_yuan
from payments.services.console_views import CandidateView, QueueFilters
from payments.services.review import ACTIONS, MONEY_ACTIONS, ActionRefused, Preview, Share
from payments.services.staff import Forbidden

AGE_CHOICES = (1, 3, 7, 30)
ItemId = Annotated[str, PathParameter(max_length=40)]


def _filters(request: Request) -> tuple[QueueFilters, list[str]]:
    """The queue's filters from the query string; a value that does not parse is dropped and named."""
    q = request.query_params
    bad: list[str] = []

    def amount(name: str) -> int | None:
        raw = (q.get(name) or "").strip()
        if not raw:
            return None
        try:
            return parse_yuan(raw, name, allow_zero=True)
        except FieldError:
            bad.append(name)
            return None

    day = None
    if q.get("day"):
        try:
            day = date.fromisoformat(q["day"])
        except ValueError:
            bad.append("day")
    age = q.get("age") or ""
    older = int(age) if age.isdigit() and int(age) in AGE_CHOICES else None
    provider = (q.get("provider") or "").strip()[:20] or None
    after = None
    if q.get("after"):
        at, _, item_id = q["after"].partition("|")
        try:
            after = (datetime.fromisoformat(at), item_id[:32])
            if after[0].tzinfo is None:
                raise ValueError
        except ValueError:
            bad.append("after")
            after = None
    return QueueFilters(provider, day, amount("min"), amount("max"), older, after), bad


@get("/queue", include_in_schema=False)
async def queue(request: Request) -> Response[str]:
    ctx = await logged_in(request)
    filters, bad = _filters(request)
    page = await ctx.console.views.queue(ctx.staff, filters)
    aging = await ctx.console.views.aging(ctx.staff)
    return render(
        request,
        "queue.html",
        ctx=ctx,
        nav="queue",
        page=page,
        aging=aging,
        filters=filters,
        raw=request.query_params,
        # The same filters, one page on.
        next_query=lambda after: urlencode(
            [(k, v) for k, v in request.query_params.multi_items() if k != "after"] + [("after", after)]
        ),
        bad=bad,
        ages=AGE_CHOICES,
        four_eyes_fen=ctx.console.settings.four_eyes_above_fen,
    )


def _shares_from(values: Any) -> tuple[list[Share], str]:
    """Rows of (case, amount) from a form or a query string; empty rows are skipped."""
    cases = [str(c).strip() for c in values.getall("case", [])]
    amounts = [str(a).strip() for a in values.getall("amount", [])]
    shares: list[Share] = []
    error = ""
    for i, case in enumerate(cases):
        raw = amounts[i] if i < len(amounts) else ""
        if not case and not raw:
            continue
        fen = 0
        if raw:
            try:
                fen = parse_yuan(raw, "amount")
            except FieldError:
                error = "amount"
        shares.append(Share(case, fen))
    return shares, error


def candidate_split(candidate: CandidateView, amount_fen: int) -> list[tuple[str, int]]:
    """A first proposal for one debtor's several cases: each case up to its balance, in the engine's
    order, the last case taking whatever is left (so the shares always add up to the payment)."""
    left, out = amount_fen, []
    for i, case in enumerate(candidate.cases):
        share = left if i == len(candidate.cases) - 1 else min(left, max(case.balance_fen, 0))
        out.append((case.external_ref, share))
        left -= share
    return [(ref, fen) for ref, fen in out if fen > 0] or [(candidate.cases[0].external_ref, amount_fen)]


def _preview_link(item_id: str, action: str, shares: list[tuple[str, int]]) -> str:
    params: list[tuple[str, str]] = [("action", action)]
    for ref, fen in shares:
        params += [("case", ref), ("amount", format_yuan(fen))]
    return f"{PATH}/queue/{item_id}?{urlencode(params)}#preview"


async def _item_page(
    request: Request,
    ctx: Ctx,
    item_id: str,
    *,
    action: str = "",
    shares: list[Share] | None = None,
    reason: str = "",
    error: str = "",
    status: int = 200,
    reveal: bool = False,
) -> Response[str]:
    t = STRINGS[lang_of(request)]
    try:
        detail = await ctx.console.views.item(ctx.staff, item_id, reveal=reveal)
    except NotFound:
        return not_found(request, ctx)
    preview: Preview | None = None
    if action in MONEY_ACTIONS and shares and not error and detail.item.status == "open":
        try:
            preview = await ctx.console.review.preview(ctx.staff, item_id, action, shares)
        except DomainError as exc:
            error, status = error_text(t, exc), 422
    elif error in ("amount",):
        error, status = t["err_amount"], 422
    candidates = [
        (
            c,
            _preview_link(
                item_id,
                "match" if len(c.cases) == 1 else "split",
                candidate_split(c, detail.payment.unapplied_fen),
            ),
        )
        for c in detail.candidates
    ]
    msg = request.query_params.get("msg", "") if request.method == "GET" else ""
    return render(
        request,
        "item.html",
        ctx=ctx,
        status=status,
        nav="queue",
        page_path=f"{PATH}/queue/{item_id}",
        d=detail,
        preview=preview,
        action=action,
        shares=shares or [],
        reason=reason,
        error=error,
        msg=f"msg_{msg}" if f"msg_{msg}" in t else "",
        candidates=candidates,
        needs_approval=ctx.console.review.needs_approval(detail.item.amount_fen),
        limit_fen=ctx.console.settings.write_off_limit_fen,
    )


@get("/queue/{item_id:str}", include_in_schema=False)
async def item_page(request: Request, item_id: ItemId) -> Response[str]:
    ctx = await logged_in(request)
    action = request.query_params.get("action", "")
    shares, error = _shares_from(request.query_params) if action in MONEY_ACTIONS else ([], "")
    return await _item_page(request, ctx, item_id, action=action, shares=shares, error=error)


@post("/queue/{item_id:str}/reveal", include_in_schema=False, status_code=200)
async def item_reveal(request: Request, item_id: ItemId) -> Response[str]:
    ctx = await logged_in(request)
    await checked_form(request, ctx)
    if not ctx.staff.can_reveal:
        return forbidden(request, ctx, "reveal_forbidden")
    return await _item_page(request, ctx, item_id, reveal=True)


@post("/queue/{item_id:str}/{action:str}", include_in_schema=False, status_code=200)
async def item_action(
    request: Request, item_id: ItemId, action: Annotated[str, PathParameter()]
) -> Response[str]:
    ctx = await logged_in(request)
    form = await checked_form(request, ctx)
    action = action.replace("-", "_")
    if action not in ACTIONS:
        return not_found(request, ctx)
    shares, error = _shares_from(form) if action in MONEY_ACTIONS else ([], "")
    reason = str(form.get("reason", ""))
    t = STRINGS[lang_of(request)]
    if error:
        return await _item_page(
            request, ctx, item_id, action=action, shares=shares, reason=reason, error=error
        )
    try:
        result = await ctx.console.review.act(ctx.staff, item_id, action, shares=shares, reason=reason)
    except NotFound:
        return not_found(request, ctx)
    except DomainError as exc:
        return await _item_page(
            request,
            ctx,
            item_id,
            action=action if action in MONEY_ACTIONS else "",
            shares=shares,
            reason=reason,
            error=error_text(t, exc),
            status=exc.status,
        )
    if result.refund_error is not None:
        refused = ActionRefused("refund_failed", result.refund_error, why=result.refund_error)
        return await _item_page(request, ctx, item_id, error=error_text(t, refused), status=502)
    msg = "approval_requested" if not result.done else action
    return redirect(f"{PATH}/queue/{item_id}?msg={msg}")


# -- approvals ---------------------------------------------------------------------------------------


@get("/approvals", include_in_schema=False)
async def approvals(request: Request) -> Response[str]:
    ctx = await logged_in(request)
    rows = await ctx.console.views.approvals(ctx.staff)
    msg = request.query_params.get("msg", "")
    t = STRINGS[lang_of(request)]
    return render(
        request,
        "approvals.html",
        ctx=ctx,
        nav="approvals",
        rows=rows,
        msg=f"msg_{msg}" if f"msg_{msg}" in t else "",
        error="",
    )


async def _decide(request: Request, approval_id: str, approve: bool) -> Response[str]:
    ctx = await logged_in(request)
    form = await checked_form(request, ctx)
    note = str(form.get("note", ""))
    t = STRINGS[lang_of(request)]
    try:
        if approve:
            result = await ctx.console.review.approve(ctx.staff, approval_id, note)
            msg = "approved" if result.refund_error is None else "refund_failed"
        else:
            msg = await ctx.console.review.decline(ctx.staff, approval_id, note)
    except NotFound:
        return not_found(request, ctx)
    except Forbidden as exc:
        code = getattr(exc, "code", "")
        return forbidden(request, ctx, "own_request_body" if code == "own_request" else "approver_only_body")
    except DomainError as exc:
        rows = await ctx.console.views.approvals(ctx.staff)
        return render(
            request,
            "approvals.html",
            ctx=ctx,
            status=exc.status,
            nav="approvals",
            page_path=f"{PATH}/approvals",
            rows=rows,
            msg="",
            error=error_text(t, exc),
        )
    return redirect(f"{PATH}/approvals?msg={msg}")


@post("/approvals/{approval_id:str}/approve", include_in_schema=False, status_code=200)
async def approve(request: Request, approval_id: ItemId) -> Response[str]:
    return await _decide(request, approval_id, True)


@post("/approvals/{approval_id:str}/decline", include_in_schema=False, status_code=200)
async def decline(request: Request, approval_id: ItemId) -> Response[str]:
    return await _decide(request, approval_id, False)


@get("/", include_in_schema=False)
async def home(request: Request) -> Response[str]:
    await logged_in(request)
    return redirect(f"{PATH}/queue")


QUEUE_ROUTES = [home, queue, item_page, item_reveal, item_action, approvals, approve, decline]
