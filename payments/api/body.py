"""Strict JSON request bodies: malformed JSON is a 400, a body of the wrong shape a 422 naming the field.

No text the API takes may hold NUL (U+0000): PostgreSQL text cannot store or even compare it (the query
fails), and no identifier, amount or name has a use for it. Bodies are checked here, the URL's path and
query in `refuse_nul_in_url`.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request

from payments.api.problems import decode_error_to_problem
from payments.domain.errors import DomainError, FieldProblem, ValidationErrors

T = TypeVar("T")
NUL = "\x00"


class MalformedBody(DomainError):
    type_slug = "malformed-request"
    status = 400


def decode_json(body: bytes, into: type[T]) -> T:
    if not body:
        raise MalformedBody("the request needs a JSON body")
    try:
        value = msgspec.json.decode(body, type=into)
    except msgspec.ValidationError as exc:
        raise decode_error_to_problem(exc) from None
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from None
    except UnicodeDecodeError:  # msgspec raises it, not a DecodeError, for bytes that are not UTF-8
        raise MalformedBody("the body is not valid JSON: it is not UTF-8") from None
    if b"\\u0000" in body:  # NUL can only arrive escaped: JSON forbids raw control characters
        fields = _fields_with_nul(msgspec.json.decode(body))
        if fields:
            raise ValidationErrors([FieldProblem(f, "must not contain the NUL character") for f in fields])
    return value


def _fields_with_nul(value: Any, path: str = "") -> list[str]:
    if isinstance(value, str):
        return [path or "body"] if NUL in value else []
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in _fields_with_nul(v, f"{path}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in _fields_with_nul(v, f"{path}[{i}]")]
    return []


def refuse_nul_in_url(request: Request) -> None:
    """A 400 for a path or query holding NUL (%00), before any of it reaches the database."""
    if NUL in request.scope["path"] or any(
        NUL in k or NUL in v for k, v in request.query_params.multi_items()
    ):
        raise MalformedBody("the URL holds a NUL character (%00), which no identifier or parameter has")
