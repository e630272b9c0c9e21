"""Clients and API keys: creation, revocation, and turning a bearer token into a principal."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from payments.persistence.db import Database, utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import ApiKey, Client
from payments.services import audit

KEY_PREFIX = "prk_"


class Role(enum.StrEnum):
    CASE_SYSTEM = "case_system"
    FINANCE = "finance"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    key_id: str
    role: Role

    @property
    def actor(self) -> str:
        return f"api_key:{self.key_id}"


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_client(db: Database, name: str, *, actor: str = "cli") -> str:
    client_id = new_id("cl")
    async with db.transaction() as session:
        session.add(Client(id=client_id, name=name, created_at=utcnow()))
        audit.record(
            session,
            actor=actor,
            action="client.created",
            entity_type="client",
            entity_id=client_id,
            client_id=client_id,
            after={"name": name},
        )
    return client_id


async def create_api_key(
    db: Database, client_id: str, role: Role, name: str = "", *, actor: str = "cli"
) -> tuple[str, str]:
    """Returns (key id, token). The token is shown once; only its hash is stored."""
    key_id = new_id("key")
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    async with db.transaction() as session:
        if await session.get(Client, client_id) is None:
            raise LookupError(f"no client {client_id}")
        session.add(
            ApiKey(
                id=key_id,
                client_id=client_id,
                role=role.value,
                name=name,
                key_hash=hash_key(token),
                created_at=utcnow(),
                revoked_at=None,
            )
        )
        audit.record(
            session,
            actor=actor,
            action="api_key.created",
            entity_type="api_key",
            entity_id=key_id,
            client_id=client_id,
            after={"role": role.value, "name": name},
        )
    return key_id, token


async def revoke_api_key(db: Database, key_id: str, *, actor: str = "cli") -> bool:
    async with db.transaction() as session:
        result = await session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .returning(ApiKey.client_id)
        )
        client_id = result.scalar_one_or_none()
        if client_id is None:
            return False
        audit.record(
            session,
            actor=actor,
            action="api_key.revoked",
            entity_type="api_key",
            entity_id=key_id,
            client_id=client_id,
        )
    return True


async def authenticate(db: Database, token: str) -> Principal | None:
    if not token.startswith(KEY_PREFIX) or len(token) > 100:
        return None
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(ApiKey.id, ApiKey.client_id, ApiKey.role).where(
                    ApiKey.key_hash == hash_key(token), ApiKey.revoked_at.is_(None)
                )
            )
        ).one_or_none()
    if row is None:
        return None
    return Principal(client_id=row.client_id, key_id=row.id, role=Role(row.role))


async def ensure_client(db: Database, name_or_id: str, *, actor: str = "cli") -> str:
    """The id of the client with this id or name, creating a client of that name if there is none."""
    async with db.sessions() as session:
        found = await session.scalar(
            select(Client.id)
            .where((Client.id == name_or_id) | (Client.name == name_or_id))
            .order_by(Client.id)
        )
    return found or await create_client(db, name_or_id, actor=actor)
