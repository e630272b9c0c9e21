"""RFC 9457 problem+json for every error the API returns, with a stable `type` per kind of problem."""

from __future__ import annotations

import logging

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.exceptions import ValidationException as LitestarValidation

from payments.domain.errors import DomainError, FieldProblem, ValidationErrors

log = logging.getLogger("payrecon.api")
PROBLEM = "application/problem+json"
TYPE_BASE = "urn:payrecon:problem:"


class FieldDetail(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str = ""
    instance: str = ""
    errors: list[FieldDetail] = []


TITLES = {
    400: "Malformed request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}

SLUGS = {
    400: "malformed-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}


def problem_response(
    status: int,
    detail: str = "",
    *,
    slug: str | None = None,
    request: Request | None = None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[bytes]:
    body = Problem(
        type=TYPE_BASE + (slug or SLUGS.get(status, "error")),
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=request.url.path if request is not None else "",
        errors=[FieldDetail(e.field, e.message) for e in errors or []],
    )
    return Response(msgspec.json.encode(body), status_code=status, media_type=PROBLEM, headers=headers)


def decode_error_to_problem(exc: msgspec.DecodeError) -> DomainError:
    """Turn msgspec's message ("Expected `str`, got `int` - at `$.debts[0].principal`") into a field error."""
    text = str(exc)
    message, sep, where = text.partition(" - at `$")
    field = where.rstrip("`").lstrip(".") if sep else ""
    if "Object missing required field" in message:
        missing = message.rsplit("`", 2)[-2] if message.count("`") >= 2 else ""
        field = f"{field}.{missing}".lstrip(".") if missing else field
        message = "is required"
    elif "Object contains unknown field" in message:
        unknown = message.rsplit("`", 2)[-2] if message.count("`") >= 2 else ""
        field = f"{field}.{unknown}".lstrip(".") if unknown else field
        message = "is not a known field"
    # The same problem type as the field checks that run after decoding: a bad shape is a validation error.
    return ValidationErrors([FieldProblem(field or "body", message)])


def on_domain_error(request: Request, exc: DomainError) -> Response[bytes]:
    return problem_response(exc.status, exc.detail, slug=exc.type_slug, request=request, errors=exc.problems)


def on_http_exception(request: Request, exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if isinstance(exc, LitestarValidation):
        # Litestar's own parameter checks (query, path): report them as field errors.
        problems = [
            FieldProblem(str(e.get("key", "")), str(e.get("message", "")))
            for e in (exc.extra or [])
            if isinstance(e, dict)
        ]
        return problem_response(
            400 if status == 400 else status, exc.detail, request=request, errors=problems
        )
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", "Bearer")
    detail = exc.detail if status < 500 else ""
    if isinstance(exc, PermissionDeniedException):
        detail = exc.detail
    return problem_response(status, detail, request=request, headers=headers)


def on_unexpected(request: Request, exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.scope.get("path_template", "?"))
    return problem_response(500, "", request=request)


EXCEPTION_HANDLERS = {
    DomainError: on_domain_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}

JSON = MediaType.JSON
