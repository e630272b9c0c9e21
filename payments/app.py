"""Composition root of the web process: settings in, Litestar app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from payments.api.ops import health, ready
from payments.api.problems import EXCEPTION_HANDLERS
from payments.api.v1.cases import CasesController
from payments.services.container import Services, build_services
from payments.settings import Settings, load_settings


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def create_app(settings: Settings | None = None, services: Services | None = None) -> Litestar:
    settings = settings or load_settings()
    owned = services is None
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.services = services
        try:
            yield
        finally:
            if owned:
                await services.aclose()

    prometheus = PrometheusConfig(app_name="payrecon", prefix="payrecon", group_path=True)
    return Litestar(
        route_handlers=[CasesController, health, ready, MetricsController],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[prometheus.middleware],
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
