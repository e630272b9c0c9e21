"""POST /notify/{provider}: the providers' server-to-server notifications, verified on the raw body."""

from __future__ import annotations

import logging
from typing import Annotated

from litestar import Request, Response, post
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter
from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("payrecon.notify")
OUTCOMES = Counter(
    "payrecon_notifications_total", "Provider notifications by outcome", ["provider", "result"]
)


@post(
    "/notify/{provider:str}",
    tags=["notify"],
    summary="Provider notification (Alipay, WeChat Pay, bank card)",
    status_code=200,
    include_in_schema=True,
)
async def notify(request: Request, provider: Annotated[str, PathParameter()]) -> Response[bytes]:
    services = request.app.state.services
    rail = services.rails.providers.get(provider)
    if rail is None:
        raise NotFoundException("no such provider")
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        outcome = await services.notifications.receive(provider, headers, body)
    except (DBAPIError, OSError) as exc:
        # The inbox could not be written: answer failure so the provider sends it again later.
        log.error("notification not stored, database unavailable: %s", type(exc).__name__)
        OUTCOMES.labels(provider, "unavailable").inc()
        ack = rail.ack_failure("temporarily unavailable")
        return Response(ack.body, status_code=ack.status_code, media_type=ack.content_type)
    OUTCOMES.labels(provider, outcome.result).inc()
    ack = outcome.ack
    return Response(ack.body, status_code=ack.status_code, media_type=ack.content_type)
