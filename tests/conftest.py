"""Shared fixtures: one migrated database per test session (SQLite by default, PostgreSQL when
PAYRECON_TEST_DATABASE_URL says so), one app, and a fresh tenant per test for isolation."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from payments.app import create_app
from payments.persistence.migrate import upgrade
from payments.services.access import Role, create_api_key, create_client
from payments.services.container import Services, build_services
from payments.settings import DatabaseSettings, ServerSettings, Settings


def _reset_postgres(url: str) -> None:
    async def reset() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("PAYRECON_TEST_DATABASE_URL", "")
    if url.startswith("postgresql"):
        _reset_postgres(url)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=str(tmp_path_factory.mktemp("data")),
        database=DatabaseSettings(url=database_url),
        server=ServerSettings(public_base_url="http://testserver.local"),
    )


@pytest.fixture(scope="session")
async def services(settings: Settings) -> AsyncIterator[Services]:
    svc = build_services(settings)
    yield svc
    await svc.aclose()


@pytest.fixture(scope="session")
async def client(settings: Settings, services: Services) -> AsyncIterator[AsyncTestClient]:
    app = create_app(settings, services)
    async with AsyncTestClient(app, base_url="http://testserver.local") as c:
        yield c


@dataclass
class Tenant:
    client_id: str
    headers: dict[str, str]  # case_system key
    finance_headers: dict[str, str]
    admin_headers: dict[str, str]


async def _new_tenant(services: Services, name: str) -> Tenant:
    client_id = await create_client(services.db, name)
    keys = {}
    for role in Role:
        _, token = await create_api_key(services.db, client_id, role)
        keys[role] = {"Authorization": f"Bearer {token}"}
    return Tenant(client_id, keys[Role.CASE_SYSTEM], keys[Role.FINANCE], keys[Role.ADMIN])


@pytest.fixture
async def tenant(services: Services) -> Tenant:
    return await _new_tenant(services, "Test Lender")


@pytest.fixture
async def other_tenant(services: Services) -> Tenant:
    return await _new_tenant(services, "Other Lender")


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("PAYRECON_TEST_DATABASE_URL", "")
    return f"payrecon database: {'postgresql' if url.startswith('postgresql') else 'sqlite'}"


FIXTURES = Path(__file__).parent / "fixtures"
