"""Request bodies in the OpenAPI document for handlers that decode their own body.

The API handlers read the raw body and decode it with msgspec themselves (payments.api.body), so that a
bad body is a problem+json naming the field. Litestar then sees no `data` parameter and leaves the body
out of the schema. `json_body(Struct)` is an `operation_class` that puts it back, with the JSON Schema
msgspec derives from the very struct the handler decodes into.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody

DEFS = "#/$defs/"


def _inline(node: Any, defs: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """The schema with every local `$ref` replaced by its definition (the body types are not recursive)."""
    if isinstance(node, list):
        return [_inline(v, defs, seen) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(DEFS):
        name = ref.removeprefix(DEFS)
        if name in seen:
            raise ValueError(f"{name} is recursive; it cannot be inlined")
        siblings = {k: _inline(v, defs, seen) for k, v in node.items() if k != "$ref"}
        return {**_inline(defs[name], defs, (*seen, name)), **siblings}
    return {k: _inline(v, defs, seen) for k, v in node.items()}


def body_schema(struct: type) -> dict[str, Any]:
    raw = dict(msgspec.json.schema(struct))
    defs = raw.pop("$defs", {})
    return _inline(raw, defs)


def json_body(struct: type, *, required: bool = True) -> type[Operation]:
    """An Operation class whose request body is `struct` as JSON."""
    body = RequestBody(
        required=required,
        content={"application/json": OpenAPIMediaType(schema=body_schema(struct))},  # type: ignore[arg-type]
    )

    @dataclass
    class WithJsonBody(Operation):
        def __post_init__(self) -> None:
            self.request_body = body

    WithJsonBody.__name__ = WithJsonBody.__qualname__ = f"WithJsonBody[{struct.__name__}]"
    return WithJsonBody
