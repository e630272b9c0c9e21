"""Several real processes on one PostgreSQL database: web servers (`payrecon serve`) and workers
(`payrecon worker`) started as subprocesses on loopback ports, a webhook receiver, and a TCP proxy in
front of PostgreSQL that a test can cut to play a database outage without touching the shared server.

PostgreSQL only: SQLite is one process by design. Every wait is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from payments.persistence import migrate
from payments.services.container import Services, build_services
from payments.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
START_SECONDS = 30


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def cluster_db() -> AsyncIterator[str]:
    url = os.environ.get("PAYRECON_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL: several processes share one database only there")
    base, _, name = url.rpartition("/")
    scratch = f"{name}_rel_{uuid.uuid4().hex[:10]}"
    await _admin(url, f'CREATE DATABASE "{scratch}"')
    try:
        yield f"{base}/{scratch}"
    finally:
        await _admin(url, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


class PgProxy:
    """Loopback TCP proxy to PostgreSQL. `cut()` drops every connection and refuses new ones (the
    database is gone, as far as the service can tell); `restore()` lets connections through again."""

    def __init__(self, target_port: int = 5432) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.open = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        self.open = False
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    def restore(self) -> None:
        self.open = True

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class Receiver:
    """The case system's webhook endpoint: keeps every delivery (headers and body), answers 204."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            # The default listen backlog of 5 refuses connections when both workers deliver at once,
            # which a real case system's server would not.
            request_queue_size = 256
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[tuple[str, dict]]:
        with self.lock:
            return [(h["webhook-id"], json.loads(b)) for h, b in self.deliveries]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Cluster:
    """The processes of one deployment. Each has a name; logs go to the data folder."""

    def __init__(self, data_dir: Path, db_url: str) -> None:
        self.data_dir = data_dir
        self.db_url = db_url
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}

    def env(self, *, db_url: str | None = None, port: int | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYRECON_")}
        env.update(
            PAYRECON_DATA_DIR=str(self.data_dir),
            PAYRECON_DATABASE__URL=db_url or self.db_url,
            PAYRECON_SERVER__EMBEDDED_WORKER="false",
            PAYRECON_LOGGING__LEVEL="WARNING",
            PAYRECON_WEBHOOKS__DISPATCH_INTERVAL="0.2",
            PAYRECON_PROVIDERS__SANDBOX_TIME_FACTOR="1000",
            PYTHONUNBUFFERED="1",
        )
        if port is not None:
            env.update(
                PAYRECON_SERVER__PORT=str(port), PAYRECON_SERVER__PUBLIC_BASE_URL=f"http://127.0.0.1:{port}"
            )
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.data_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(  # noqa: S603  (our own CLI, fixed arguments)
            [sys.executable, "-m", "payments.cli", *args],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = process
        return process

    def start_web(self, name: str, *, db_url: str | None = None) -> str:
        port = self.ports.get(name) or free_port()
        self.ports[name] = port
        process = self._spawn(name, ["serve"], self.env(db_url=db_url, port=port))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.log(name)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    return base
            time.sleep(0.2)
        raise AssertionError(f"{name} did not start in {START_SECONDS} s:\n{self.log(name)}")

    def start_worker(self, name: str) -> None:
        self._spawn(name, ["worker"], self.env())

    def kill(self, name: str) -> None:
        """kill -9: no clean shutdown, no finally blocks, connections dropped mid-transaction."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def log(self, name: str) -> str:
        path = self.data_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()


@pytest.fixture(scope="module")
async def cluster(cluster_db: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    data = tmp_path_factory.mktemp("cluster")
    await asyncio.to_thread(migrate.upgrade, cluster_db)
    c = Cluster(data, cluster_db)
    try:
        yield c
    finally:
        c.stop_all()


@pytest.fixture(scope="module")
async def cluster_services(cluster: Cluster) -> AsyncIterator[Services]:
    """The same deployment seen in-process (same database, same data folder and keys), for set-up and
    for reading what the processes wrote."""
    settings: Settings = load_settings(cluster.env())
    services = build_services(settings)
    try:
        yield services
    finally:
        await services.aclose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


async def wait_until(check, seconds: float, what: str, interval: float = 0.25):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last is True:
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"not within {seconds} s: {what} (last: {last})")


def signed_now() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=1)
