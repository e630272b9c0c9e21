"""Case-system API for payment links."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, Response, get, post
from litestar.params import PathParameter

from payments.api.auth import principal_of, require
from payments.api.body import decode_json
from payments.api.openapi import json_body
from payments.services.access import Role
from payments.services.links import LinkIn, LinkView


class RevokeIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = ""


@post(
    "/v1/cases/{case_id:str}/links",
    tags=["links"],
    status_code=201,
    operation_class=json_body(LinkIn),
    summary="Issue a payment link (URL and QR) for a case",
    description="Amount policies: full_balance (default), fixed, range (min to balance), instalments, "
    "settlement (needs approval by a finance key before it goes live). Expiry defaults to 7 days, at most 180.",
)
async def issue_link(request: Request, case_id: Annotated[str, PathParameter()]) -> Response[bytes]:
    principal = require(await principal_of(request), Role.CASE_SYSTEM)
    data = decode_json(await request.body(), LinkIn)
    view = await request.app.state.services.links.issue_link(principal, case_id, data)
    return Response(msgspec.json.encode(view), status_code=201, media_type="application/json")


@get("/v1/links/{link_id:str}", tags=["links"], summary="A payment link and what was paid through it")
async def read_link(request: Request, link_id: Annotated[str, PathParameter()]) -> LinkView:
    principal = require(await principal_of(request), Role.CASE_SYSTEM, Role.FINANCE)
    return await request.app.state.services.links.get_link(principal, link_id)


@post(
    "/v1/links/{link_id:str}/revoke",
    tags=["links"],
    status_code=200,
    operation_class=json_body(RevokeIn, required=False),
    summary="Revoke a link at once",
)
async def revoke_link(request: Request, link_id: Annotated[str, PathParameter()]) -> LinkView:
    principal = require(await principal_of(request), Role.CASE_SYSTEM, Role.FINANCE)
    body = await request.body()
    reason = decode_json(body, RevokeIn).reason if body else ""
    return await request.app.state.services.links.revoke_link(principal, link_id, reason[:200])


@post(
    "/v1/links/{link_id:str}/approve",
    tags=["links"],
    status_code=200,
    summary="Approve a settlement offer (finance approver); the link goes live",
)
async def approve_link(request: Request, link_id: Annotated[str, PathParameter()]) -> LinkView:
    principal = require(await principal_of(request), Role.FINANCE)
    return await request.app.state.services.links.approve_link(principal, link_id)


LINK_ROUTES = [issue_link, read_link, revoke_link, approve_link]
