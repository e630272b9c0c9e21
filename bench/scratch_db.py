"""The benchmarks' own PostgreSQL databases: dropped and re-created for every run."""

from __future__ import annotations

import asyncpg


async def reset_database(url: str) -> None:
    """Drop and re-create the database named by a SQLAlchemy asyncpg URL (trust auth, local server)."""
    dsn = url.replace("postgresql+asyncpg", "postgresql")
    base, _, name = dsn.rpartition("/")
    conn = await asyncpg.connect(f"{base}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
