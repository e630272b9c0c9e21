"""The migrations build exactly the schema the models describe, on the backend under test."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from payments.persistence.migrate import current_revision, head_revision
from payments.persistence.tables import Base


async def test_the_test_database_is_at_the_head_revision(services):
    assert await current_revision(services.db.engine) == head_revision()


async def test_migrations_and_models_agree(services):
    def diff(sync_conn):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with services.db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
