"""Bearer API keys: who is calling, for which client, in which role."""

from __future__ import annotations

from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from payments.api.body import refuse_nul_in_url
from payments.services.access import Principal, Role, authenticate


async def principal_of(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthorizedException("send an API key as 'Authorization: Bearer <key>'")
    principal = await authenticate(request.app.state.services.db, token.strip())
    if principal is None:
        raise NotAuthorizedException("the API key is unknown or revoked")
    # Every /v1 handler that reads or writes data asks who is calling first: the one place that sees
    # each path and query after authentication and before the database does.
    refuse_nul_in_url(request)
    return principal


def require(principal: Principal, *roles: Role) -> Principal:
    if principal.role not in roles and principal.role is not Role.ADMIN:
        raise PermissionDeniedException(f"this needs one of the roles: {', '.join(r.value for r in roles)}")
    return principal
