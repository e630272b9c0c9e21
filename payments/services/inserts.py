"""INSERT ... ON CONFLICT DO NOTHING on both backends: the primitive behind exactly-once."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignoring_duplicates(session: AsyncSession, model: type, values: dict[str, Any]) -> bool:
    """Insert one row; False if a unique constraint already holds an equal row (nothing is written).

    On PostgreSQL a concurrent insert of the same key waits for the other transaction and then
    reports the conflict, so of N racing copies exactly one returns True.
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(model).values(**values).on_conflict_do_nothing()
    result = await session.execute(stmt)
    return bool(result.rowcount)
