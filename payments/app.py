"""Composition root of the web process: settings in, Litestar app out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.types import ControllerRouterHandler

from payments.api.borrower.pages import borrower_router
from payments.api.console import console_router
from payments.api.notify import notify
from payments.api.ops import health, ready
from payments.api.problems import EXCEPTION_HANDLERS
from payments.api.sandbox import sandbox
from payments.api.v1.cases import CasesController
from payments.api.v1.links import LINK_ROUTES
from payments.api.v1.reports import REPORT_ROUTES
from payments.api.v1.webhooks import WEBHOOK_ROUTES
from payments.security.web import derive
from payments.services.container import Services, build_services
from payments.settings import Settings, load_settings

# The borrower's pages are the only ones with cookies and forms: CSRF and per-IP limits apply there.
NOT_BORROWER_PAGES = [
    "^/v1/",
    "^/notify/",
    "^/sandbox/",
    "^/health",
    "^/ready",
    "^/metrics",
    "^/schema",
    "^/pay-static/",
    "^/console",  # staff pages: their own session-bound CSRF tokens and login throttling
]


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    extra_route_handlers: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """`extra_route_handlers` are added to the app's own routes (benchmarks add a baseline route)."""
    settings = settings or load_settings()
    owned = services is None
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.services = services
        scheduler = None
        if settings.server.embedded_worker:
            from reconciliation.scheduler import build_scheduler

            scheduler = build_scheduler(services)
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            if owned:
                await services.aclose()

    secure = settings.server.public_base_url.startswith("https://")
    prometheus = PrometheusConfig(app_name="payrecon", prefix="payrecon", group_path=True)
    return Litestar(
        route_handlers=[
            CasesController,
            borrower_router(),
            console_router(),
            *LINK_ROUTES,
            *WEBHOOK_ROUTES,
            *REPORT_ROUTES,
            notify,
            health,
            ready,
            MetricsController,
            *([sandbox] if settings.mode == "sandbox" else []),
            *extra_route_handlers,
        ],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[
            prometheus.middleware,
            RateLimitConfig(rate_limit=("minute", 120), exclude=NOT_BORROWER_PAGES).middleware,
        ],
        # Only the pay page uses cookies; API, notifications and the sandbox authenticate otherwise.
        csrf_config=CSRFConfig(
            secret=derive(services.web_secret, "csrf").hex(),
            cookie_path="/pay",
            cookie_httponly=True,
            cookie_secure=secure,
            exclude=NOT_BORROWER_PAGES,
        ),
        request_max_body_size=settings.server.max_body_bytes,
        logging_config=None,  # payments.logs configures logging once, in the composition root
        openapi_config=OpenAPIConfig(
            title="payrecon",
            version="1",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            description="Repayment links and payment reconciliation. Amounts are integer fen or yuan strings.",
        ),
    )
