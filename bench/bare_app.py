"""The service's own app, plus (only when PAYRECON_BENCH_BARE_ROUTE=1) a baseline route doing one INSERT.

    PAYRECON_BENCH_BARE_ROUTE=1 uvicorn bench.bare_app:create_bench_app --factory

The baseline is what a notification could cost at the very least on this stack: the same process,
middleware, engine and pool, and one single-row INSERT in its own transaction. It lives at
/notify/_bench_bare so the same middleware exclusions apply as to /notify/{provider} (a static path
wins over the path parameter). The benchmark's database must have the table (bench/notify_wechatpay.py
creates it); a real deployment never sets the variable.
"""

from __future__ import annotations

import os

from litestar import Litestar, Request, Response, post
from sqlalchemy import text

from payments.app import create_app
from payments.logs import configure_logging
from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.settings import load_settings

BARE_SWITCH = "PAYRECON_BENCH_BARE_ROUTE"
BARE_PATH = "/notify/_bench_bare"
BARE_TABLE = "bench_bare_insert"
CREATE_BARE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {BARE_TABLE} "
    "(id VARCHAR(32) PRIMARY KEY, body BYTEA NOT NULL, received_at TIMESTAMPTZ NOT NULL)"
)
_INSERT = text(f"INSERT INTO {BARE_TABLE} (id, body, received_at) VALUES (:id, :body, :at)")


@post(BARE_PATH, include_in_schema=False, status_code=200)
async def bare_insert(request: Request) -> Response[bytes]:
    body = await request.body()
    async with request.app.state.services.db.transaction() as session:
        await session.execute(_INSERT, {"id": new_id("bb"), "body": body, "at": utcnow()})
    return Response(b"", status_code=204)


def create_bench_app() -> Litestar:
    """The app `payrecon serve` runs (settings from the environment, same logging), for uvicorn --factory."""
    # The switch is not a service setting (the settings loader refuses unknown PAYRECON_ names).
    env = {k: v for k, v in os.environ.items() if k != BARE_SWITCH}
    settings = load_settings(env)
    configure_logging(settings.logging.level, settings.logging.json)
    extra = [bare_insert] if os.environ.get(BARE_SWITCH) == "1" else []
    return create_app(settings, extra_route_handlers=extra)
