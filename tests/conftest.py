"""Shared fixtures: one migrated database per test session (SQLite by default, PostgreSQL when
PAYRECON_TEST_DATABASE_URL says so), one app, and a fresh tenant per test for isolation."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from payments.app import create_app
from payments.persistence.migrate import upgrade
from payments.services.access import Role, create_api_key, create_client
from payments.services.container import Services, build_services
from payments.settings import DatabaseSettings, ServerSettings, Settings


def _admin(url: str, *statements: str) -> None:
    async def run() -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A new database for this run: a scratch PostgreSQL database beside the one named by
    PAYRECON_TEST_DATABASE_URL (so parallel runs never share state), or a SQLite file."""
    url = os.environ.get("PAYRECON_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        upgrade(url)
        yield url
        return
    base, _, name = url.rpartition("/")
    scratch = f"{name}_{uuid.uuid4().hex[:12]}"
    _admin(url, f'CREATE DATABASE "{scratch}"')
    try:
        upgrade(f"{base}/{scratch}")
        yield f"{base}/{scratch}"
    finally:
        _admin(url, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=str(tmp_path_factory.mktemp("data")),
        database=DatabaseSettings(url=database_url),
        # Tests run the jobs themselves, at the moments they choose.
        server=ServerSettings(public_base_url="http://testserver.local", embedded_worker=False),
    )


@pytest.fixture(scope="session")
def app_holder() -> dict[str, Litestar]:
    return {}


@pytest.fixture(scope="session")
async def services(settings: Settings, app_holder: dict[str, Litestar]) -> AsyncIterator[Services]:
    # The sandboxes post their notifications straight into the app under test, in process.
    def notify_client() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app_holder["app"]))

    svc = build_services(settings, notify_client_factory=notify_client)
    yield svc
    await svc.aclose()


@pytest.fixture(scope="session")
async def client(
    settings: Settings, services: Services, app_holder: dict[str, Litestar]
) -> AsyncIterator[httpx.AsyncClient]:
    """The app served in the tests' own event loop.

    Not Litestar's AsyncTestClient: it runs the app on a second event loop in a portal thread, and the app
    and the fixtures would then share one asyncpg pool across two loops ("attached to a different loop").
    """
    app = create_app(settings, services)
    app_holder["app"] = app
    started, stop = asyncio.Event(), asyncio.Event()

    async def run_lifespan() -> None:
        # Entered and left in one task: the lifespan's task group must not cross tasks.
        async with app.lifespan():
            started.set()
            await stop.wait()

    lifespan = asyncio.create_task(run_lifespan())
    ready = asyncio.create_task(started.wait())
    await asyncio.wait({lifespan, ready}, return_when=asyncio.FIRST_COMPLETED)
    if lifespan.done():
        ready.cancel()
        lifespan.result()  # start-up failed: raise its error
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
            yield c
    finally:
        stop.set()
        await lifespan


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
