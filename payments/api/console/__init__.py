"""The finance review console at /console: server-rendered pages for staff (queue, approvals,
exceptions, cases, reports, webhooks), Chinese first, working without JavaScript."""

from __future__ import annotations

from litestar import Router
from litestar.static_files import create_static_files_router

from payments.api.console.auth import AUTH_ROUTES
from payments.api.console.queue import QUEUE_ROUTES
from payments.api.console.records import RECORD_ROUTES
from payments.api.console.reports import REPORT_ROUTES
from payments.api.console.web import (
    HERE,
    PATH,
    BadInput,
    CsrfRefused,
    LoginRequired,
    bad_input,
    csrf_refused,
    login_redirect,
    refuse_nul,
)


def console_router() -> Router:
    static = create_static_files_router(
        path="/static", directories=[HERE / "static"], include_in_schema=False, cache_control=None
    )
    return Router(
        path=PATH,
        route_handlers=[*AUTH_ROUTES, *QUEUE_ROUTES, *RECORD_ROUTES, *REPORT_ROUTES, static],
        exception_handlers={LoginRequired: login_redirect, CsrfRefused: csrf_refused, BadInput: bad_input},  # type: ignore[dict-item]
        before_request=refuse_nul,
        include_in_schema=False,
    )
