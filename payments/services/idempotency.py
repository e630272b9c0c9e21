"""Idempotency-Key: the first response to a key is stored with the request's hash and replayed after."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain.errors import Conflict, FieldError
from payments.persistence.db import Database, utcnow
from payments.persistence.tables import IdempotencyRecord


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    key: str
    request_hash: str

    @classmethod
    def of(cls, key: str, method: str, path: str, body: bytes) -> IdempotentRequest:
        if not (0 < len(key) <= 200) or not key.isascii() or not key.isprintable():
            raise FieldError("Idempotency-Key", "must be 1-200 printable ASCII characters")
        digest = hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()
        return cls(key, digest)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: bytes


async def replay(db: Database, client_id: str, req: IdempotentRequest) -> StoredResponse | None:
    async with db.sessions() as session:
        row = await session.get(IdempotencyRecord, (client_id, req.key))
    if row is None:
        return None
    if row.request_hash != req.request_hash:
        raise Conflict("this Idempotency-Key was already used with a different request")
    return StoredResponse(row.status_code, row.response_body)


def remember(
    session: AsyncSession, client_id: str, req: IdempotentRequest, status_code: int, body: bytes
) -> None:
    """Called inside the transaction that made the change, so the change and its record commit together."""
    session.add(
        IdempotencyRecord(
            client_id=client_id,
            key=req.key,
            request_hash=req.request_hash,
            status_code=status_code,
            response_body=body,
            created_at=utcnow(),
        )
    )
