"""Operator endpoints: liveness, readiness (database reachable, migrations current)."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, get

from payments.persistence.migrate import current_revision, head_revision


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    database: str
    migrations: str


@get("/health", tags=["ops"], summary="Liveness: the process answers", include_in_schema=True)
async def health() -> Health:
    return Health("ok")


@get("/ready", tags=["ops"], summary="Readiness: database reachable and migrated to head")
async def ready(request: Request) -> Response[Readiness]:
    db = request.app.state.services.db
    try:
        await db.ping()
        current = await current_revision(db.engine)
    except Exception:  # any failure to reach the database means not ready, whatever the driver raises
        return Response(Readiness("unavailable", "unreachable", "unknown"), status_code=503)
    head = head_revision()
    if current != head:
        return Response(Readiness("unavailable", "ok", f"at {current}, head is {head}"), status_code=503)
    return Response(Readiness("ok", "ok", "current"))
