"""Mounts the provider simulators under /sandbox/{rail}/ (sandbox mode only).

The simulators speak httpx; this turns a Litestar request into an httpx.Request and back, so the
demo's browser reaches the same cashier pages and gateway endpoints the adapters use in tests.
"""

from __future__ import annotations

from typing import Annotated

import httpx
from litestar import Request, Response, route
from litestar.exceptions import NotFoundException
from litestar.params import PathParameter

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


@route("/sandbox/{rail:str}/{rest:path}", http_method=["GET", "POST"], include_in_schema=False)
async def sandbox(
    request: Request, rail: Annotated[str, PathParameter()], rest: Annotated[str, PathParameter()]
) -> Response[bytes]:
    simulator = request.app.state.services.rails.sandboxes.get(rail)
    if simulator is None:
        raise NotFoundException("no such sandbox")
    body = await request.body()
    forwarded = httpx.Request(
        request.method,
        str(request.url),
        headers=[(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP],
        content=body,
    )
    answer = await simulator.handle(forwarded)
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
    return Response(
        answer.content,
        status_code=answer.status_code,
        headers=headers,
        media_type=answer.headers.get("content-type"),
    )
