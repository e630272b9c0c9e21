"""Case-system API: create or amend cases, read them, list them."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import HeaderParameter, PathParameter, QueryParameter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payments.api.auth import principal_of, require
from payments.api.body import decode_json
from payments.api.openapi import json_body
from payments.domain.cases import CaseStatus
from payments.domain.errors import Conflict
from payments.services.access import Role
from payments.services.case_input import CaseIn, to_command
from payments.services.cases import UpsertResult
from payments.services.idempotency import IdempotentRequest, StoredResponse, remember, replay
from payments.services.views import CasePage, CaseView

READERS = (Role.CASE_SYSTEM, Role.FINANCE)


def _json(status: int, body: bytes, *, replayed: bool = False) -> Response[bytes]:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(body, status_code=status, media_type="application/json", headers=headers)


class CasesController(Controller):
    path = "/v1/cases"
    tags = ["cases"]

    @post(
        "/",
        status_code=201,
        summary="Create a case, or amend it when (client, external_ref) exists",
        description=(
            'Send debts with each component as a yuan string ("1234.50") or integer fen (`*_fen`). '
            "201 when created, 200 when amended or unchanged. With an `Idempotency-Key` header the first "
            "response is replayed for the same body; a different body with the same key is a 409."
        ),
        operation_class=json_body(CaseIn),  # documented in the schema; the handler decodes the raw body
        responses=None,
    )
    async def upsert(
        self,
        request: Request,
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", required=False)
        ] = None,
    ) -> Response[bytes]:
        principal = require(await principal_of(request), Role.CASE_SYSTEM)
        body = await request.body()
        services = request.app.state.services
        idem = (
            IdempotentRequest.of(idempotency_key, "POST", request.url.path, body)
            if idempotency_key is not None
            else None
        )
        if idem is not None and (stored := await replay(services.db, principal.client_id, idem)):
            return _json(stored.status_code, stored.body, replayed=True)
        command = to_command(decode_json(body, CaseIn))
        rendered: list[StoredResponse] = []

        def store(session: AsyncSession, result: UpsertResult) -> None:
            status = 201 if result.created else 200
            rendered.append(StoredResponse(status, msgspec.json.encode(result.view)))
            if idem is not None:
                remember(session, principal.client_id, idem, status, rendered[-1].body)

        try:
            await services.cases.upsert_case(principal, command, before_commit=store)
        except IntegrityError:
            # The same key raced us and won: answer as if we had come second.
            if idem is not None and (stored := await replay(services.db, principal.client_id, idem)):
                return _json(stored.status_code, stored.body, replayed=True)
            raise Conflict("the case was changed concurrently; retry the request") from None
        return _json(rendered[-1].status_code, rendered[-1].body)

    @get("/{case_id:str}", summary="A case with its debts and balances by component")
    async def read(self, request: Request, case_id: Annotated[str, PathParameter()]) -> CaseView:
        principal = require(await principal_of(request), *READERS)
        return await request.app.state.services.cases.get_case(principal, case_id)

    @get("/", summary="List cases, newest last, with cursor pagination")
    async def list(
        self,
        request: Request,
        external_ref: Annotated[str | None, QueryParameter()] = None,
        status: Annotated[CaseStatus | None, QueryParameter()] = None,
        cursor: Annotated[str | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> CasePage:
        principal = require(await principal_of(request), *READERS)
        return await request.app.state.services.cases.list_cases(
            principal,
            external_ref=external_ref,
            status=status.value if status else None,
            cursor=cursor,
            limit=limit,
        )
