"""Strict JSON request bodies: malformed JSON is a 400, a body of the wrong shape a 422 naming the field."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from payments.api.problems import decode_error_to_problem
from payments.domain.errors import DomainError

T = TypeVar("T")


class MalformedBody(DomainError):
    type_slug = "malformed-request"
    status = 400


def decode_json(body: bytes, into: type[T]) -> T:
    if not body:
        raise MalformedBody("the request needs a JSON body")
    try:
        return msgspec.json.decode(body, type=into)
    except msgspec.ValidationError as exc:
        raise decode_error_to_problem(exc) from None
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from None
    except UnicodeDecodeError:  # msgspec raises it, not a DecodeError, for bytes that are not UTF-8
        raise MalformedBody("the body is not valid JSON: it is not UTF-8") from None
