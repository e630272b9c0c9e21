"""Reconciliation reports for finance and the case system: JSON, or CSV for Excel."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

import msgspec
from litestar import Request, Response, get
from litestar.params import QueryParameter

from payments.api.auth import principal_of, require
from payments.domain.errors import FieldError
from payments.services.access import Role
from payments.services.reports import BEIJING, daily_report, report_csv

MAX_DAYS = 366


def _day(name: str, value: str | None, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FieldError(name, "must be a date as YYYY-MM-DD") from None


@get(
    "/v1/reports/daily",
    tags=["reports"],
    summary="Per day (Beijing) and provider: payments, matched, auto-applied, in review, exceptions, fees, net",
    description="`start` and `end` are inclusive Beijing days (default: the last 7 days), at most 366 days "
    "apart. `format=csv` answers UTF-8 CSV with a byte-order mark, which Excel opens correctly.",
)
async def daily(
    request: Request,
    start: Annotated[str | None, QueryParameter(description="first day, YYYY-MM-DD")] = None,
    end: Annotated[str | None, QueryParameter(description="last day, YYYY-MM-DD")] = None,
    provider: Annotated[str | None, QueryParameter(max_length=40)] = None,
    format: Annotated[Literal["json", "csv"], QueryParameter()] = "json",
) -> Response[bytes]:
    principal = require(await principal_of(request), Role.FINANCE, Role.CASE_SYSTEM)
    today = datetime.now(BEIJING).date()
    last = _day("end", end, today)
    first = _day("start", start, last - timedelta(days=6))
    if first > last:
        raise FieldError("start", "must not be after end")
    if (last - first).days >= MAX_DAYS:
        raise FieldError("end", f"at most {MAX_DAYS} days after start")
    async with request.app.state.services.db.sessions() as session:
        rows = await daily_report(
            session, client_ids=[principal.client_id], start=first, end=last, provider=provider
        )
    if format == "csv":
        name = f"payrecon-report-{first.isoformat()}-{last.isoformat()}.csv"
        return Response(
            report_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    body = {"start": first.isoformat(), "end": last.isoformat(), "rows": [r.to_json() for r in rows]}
    return Response(msgspec.json.encode(body), media_type="application/json")


REPORT_ROUTES = [daily]
