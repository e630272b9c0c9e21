"""The daily reconciliation report: charts drawn as SVG on the server, a table, and the CSV export
(UTF-8 with a byte-order mark, for Excel)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

from litestar import Request, Response, get
from litestar.params import PathParameter

from payments.api.console.charts import NARROW, Series, bar_chart, count_axis, yuan_axis
from payments.api.console.i18n import STRINGS
from payments.api.console.web import BEIJING, lang_of, logged_in, not_found, render, security_headers
from payments.services.console_views import AgingBucket
from payments.services.reports import DayReport, report_csv

DEFAULT_DAYS = 14
MAX_DAYS = 92
MATCHED, REVIEW, OTHER = "#1a73e8", "#e37400", "#9aa0a6"
CHARTS = ("days", "providers", "aging")


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date
    provider: str
    bad: bool  # the dates given did not parse or made no sense: the default period is shown


def period_of(request: Request) -> Period:
    q = request.query_params
    today = datetime.now(BEIJING).date()
    provider = (q.get("provider") or "").strip()[:40]
    try:
        end = date.fromisoformat(q["end"]) if q.get("end") else today
        start = date.fromisoformat(q["start"]) if q.get("start") else end - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        return Period(today - timedelta(days=DEFAULT_DAYS - 1), today, provider, True)
    if start > end or (end - start).days >= MAX_DAYS:
        return Period(today - timedelta(days=DEFAULT_DAYS - 1), today, provider, True)
    return Period(start, end, provider, False)


def _days(p: Period) -> list[date]:
    return [p.start + timedelta(days=i) for i in range((p.end - p.start).days + 1)]


def chart_svg(
    name: str, t: dict[str, str], p: Period, rows: list[DayReport], aging: list[AgingBucket]
) -> str:
    """Matched vs unmatched by day, the same by provider, and the aging of the open queue."""
    series_names = (t["chart_matched"], t["chart_review"], t["chart_other"])
    if name == "days":
        by_day: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
        for r in rows:
            v = by_day[r.day]
            v[0] += r.matched_fen
            v[1] += r.review_fen
            v[2] += max(r.payments_fen - r.matched_fen - r.review_fen, 0)
        days = _days(p)
        return bar_chart(
            t["chart_days"],
            [d.strftime("%m-%d") for d in days],
            [
                Series(series_names[k], c, [by_day[d][k] for d in days])
                for k, c in enumerate((MATCHED, REVIEW, OTHER))
            ],
            yuan_axis,
            empty=t["chart_empty"],
            chart_id="chart-days",
        )
    if name == "providers":
        by_provider: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for r in rows:
            v = by_provider[r.provider]
            v[0] += r.matched_fen
            v[1] += r.review_fen
            v[2] += max(r.payments_fen - r.matched_fen - r.review_fen, 0)
        providers = sorted(by_provider)
        return bar_chart(
            t["chart_providers"],
            [t.get(f"provider_{pr}", pr) for pr in providers],
            [
                Series(series_names[k], c, [by_provider[pr][k] for pr in providers])
                for k, c in enumerate((MATCHED, REVIEW, OTHER))
            ],
            yuan_axis,
            empty=t["chart_empty"],
            chart_id="chart-providers",
            width=NARROW,
        )
    return bar_chart(
        t["chart_aging"],
        [t[b.key] for b in aging],
        [Series(t["chart_open_items"], REVIEW, [b.count for b in aging])],
        count_axis,
        empty=t["chart_queue_empty"],
        chart_id="chart-aging",
        width=NARROW,
    )


def _totals(rows: list[DayReport]) -> dict[str, int]:
    keys = (
        "payments_count",
        "payments_fen",
        "matched_count",
        "matched_fen",
        "auto_applied_count",
        "review_count",
        "review_fen",
        "fees_fen",
        "net_fen",
    )
    out = {k: sum(getattr(r, k) for r in rows) for k in keys}
    out["exceptions"] = sum(r.exceptions_count for r in rows)
    return out


@get("/reports", include_in_schema=False)
async def report(request: Request) -> Response[str]:
    ctx = await logged_in(request)
    p = period_of(request)
    t = STRINGS[lang_of(request)]
    rows = await ctx.console.views.report(ctx.staff, p.start, p.end, p.provider)
    aging = await ctx.console.views.aging(ctx.staff)
    names = await ctx.console.views.client_names(ctx.staff)
    query = f"start={p.start.isoformat()}&end={p.end.isoformat()}&provider={p.provider}"
    return render(
        request,
        "report.html",
        ctx=ctx,
        nav="reports",
        p=p,
        rows=rows,
        totals=_totals(rows),
        aging=aging,
        names=names,
        charts={name: chart_svg(name, t, p, rows, aging) for name in CHARTS},
        query=query,
    )


@get("/reports/daily.csv", include_in_schema=False)
async def report_export(request: Request) -> Response[bytes]:
    ctx = await logged_in(request)
    p = period_of(request)
    rows = await ctx.console.views.report(ctx.staff, p.start, p.end, p.provider)
    await ctx.console.views.record_export(
        ctx.staff,
        "daily",
        {"start": p.start.isoformat(), "end": p.end.isoformat(), "provider": p.provider, "rows": len(rows)},
    )
    name = f"payrecon-daily-{p.start.isoformat()}_{p.end.isoformat()}.csv"
    return Response(
        report_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={**security_headers(), "Content-Disposition": f'attachment; filename="{name}"'},
    )


@get("/reports/chart/{name:str}", include_in_schema=False)
async def report_chart(request: Request, name: Annotated[str, PathParameter(max_length=20)]) -> Response[str]:
    ctx = await logged_in(request)
    name = name.removesuffix(".svg")
    if name not in CHARTS:
        return not_found(request, ctx)
    p = period_of(request)
    t = STRINGS[lang_of(request)]
    rows = await ctx.console.views.report(ctx.staff, p.start, p.end, p.provider)
    aging = await ctx.console.views.aging(ctx.staff)
    return Response(
        chart_svg(name, t, p, rows, aging), media_type="image/svg+xml", headers=security_headers()
    )


REPORT_ROUTES = [report, report_export, report_chart]
