"""WeChat Pay notifications per second through POST /notify/wechatpay, against a bare one-INSERT route.

    .venv/bin/python bench/notify_wechatpay.py [--notifications 5000] [--concurrency 64]

PostgreSQL only: its own database (PAYRECON_BENCH_DATABASE_URL, default database
`payrecon_bench_notify` on the local server), dropped and re-created. One uvicorn worker on loopback
runs `bench.bare_app:create_bench_app --factory` (the service's app plus the baseline route, sandbox
mode), fed by httpx at the given concurrency.

Not timed: N cases with one debt each (service layer), one pending WeChat Pay order per case (rows),
and N distinct notifications, one per order, made by the WeChat Pay sandbox's own code in this
process against the same data directory as the server, so the server trusts the same platform key.
They are signed just before they are sent, well inside WeChat's 300-second window. Each one is a
full notification: verified, decrypted, cross-checked, stored in the inbox and recorded as a payment
with its outbox events in one transaction; the server's applier then applies it to its case in the
same process, so that work is inside the measured run too.

Timed: the N notifications, then N requests to the baseline route. Prints throughput, p50, p99 and
errors for both, the ratio, and whether the issue's targets are met (at least half the baseline's
throughput, p99 under 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import msgspec

# A sibling module: run as a script, this file's folder is first on sys.path.
from bare_app import BARE_PATH, CREATE_BARE_TABLE

# A sibling module: run as a script, this file's folder is first on sys.path.
from scratch_db import reset_database
from server_wait import wait_for_health
from sqlalchemy import func, select

from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.migrate import upgrade
from payments.persistence.tables import Order, Payment
from payments.services.access import Principal, Role, create_api_key, create_client
from payments.services.case_input import CaseIn, to_command
from payments.services.container import Services, build_services
from payments.services.orders import new_out_trade_no
from payments.settings import DatabaseSettings, ServerSettings, Settings
from providers.simulator import NotificationDelivery, NotificationSender, SandboxOptions
from providers.wechatpay.sandbox import WechatPaySandbox, build_sandbox
from providers.wechatpay.sandbox_store import SandboxOrder, random_token

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/payrecon_bench_notify"
PORT = 8933
ORDER_FEN = 10_000
ID_NUMBER = "11010519491231002X"
MAX_SKEW = 300.0

FAILURES: collections.Counter[str] = collections.Counter()


@dataclass
class Result:
    name: str
    latencies: list[float]
    elapsed: float
    errors: int
    server_cpu: float = 0.0  # seconds of CPU the server process used for these requests

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(int(len(ordered) * p) - 1, 0)] * 1000

    def line(self) -> str:
        p50 = statistics.median(self.latencies) * 1000
        return (
            f"{self.name:<22} {len(self.latencies):>6} requests in {self.elapsed:6.2f} s  "
            f"{self.rate:8.1f} req/s  p50 {p50:6.1f} ms  p99 {self.percentile(0.99):6.1f} ms  "
            f"errors {self.errors}\n{'':<22} server CPU {self.server_cpu / len(self.latencies) * 1000:.2f} ms/request "
            f"(so at most {len(self.latencies) / self.server_cpu:.0f} req/s on one free core)"
        )


async def prepare_database(url: str) -> None:
    """A fresh database, plus the table the baseline route inserts into."""
    await reset_database(url)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(CREATE_BARE_TABLE)
    finally:
        await conn.close()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (Linux /proc): unlike req/s, not skewed by other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bounded(n: int, concurrency: int, one: Callable[[int], Awaitable[bool]], name: str) -> Result:
    latencies: list[float] = []
    errors = 0
    indexes = iter(range(n))

    async def worker() -> None:
        nonlocal errors
        for i in indexes:
            t0 = time.perf_counter()
            try:
                ok = await one(i)
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - t0)
            errors += not ok

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, latencies, time.perf_counter() - start, errors)


# -- preparation (not timed) -----------------------------------------------------------------------


def case_in(i: int) -> CaseIn:
    body = {
        "external_ref": f"BN-{i:06d}",
        "debtor": {"name": "测试人", "id_number": ID_NUMBER, "phone": "13912345678"},
        "debts": [{"debt_id": "d1", "due_date": "2026-01-31", "principal_fen": 500_000, "fees_fen": 500}],
    }
    return msgspec.convert(body, CaseIn)


async def make_orders(services: Services, n: int, concurrency: int) -> list[str]:
    """One case per order, so notifications never wait on each other's case lock."""
    client_id = await create_client(services.db, "bench-notify")
    key_id, _ = await create_api_key(services.db, client_id, Role.CASE_SYSTEM)
    principal = Principal(client_id, key_id, Role.CASE_SYSTEM)
    case_ids: list[str] = [""] * n

    async def one(i: int) -> bool:
        result = await services.cases.upsert_case(principal, to_command(case_in(i)))
        case_ids[i] = result.view.id
        return True

    await bounded(n, concurrency, one, "cases")
    now = utcnow()
    orders = [
        Order(
            id=new_id("ord"),
            client_id=client_id,
            case_id=case_id,
            link_id=None,
            provider="wechatpay",
            out_trade_no=new_out_trade_no(),
            amount_fen=ORDER_FEN,
            currency="CNY",
            status="pending",
            provider_txn_id=None,
            created_at=now,
            expires_at=now + timedelta(hours=2),
            paid_at=None,
        )
        for case_id in case_ids
    ]
    async with services.db.transaction() as session:
        session.add_all(orders)
    return [o.out_trade_no for o in orders]


class Keeper(NotificationSender):
    """Keeps the sandbox's notifications instead of sending them."""

    def send(self, delivery: NotificationDelivery) -> NotificationDelivery:
        self.deliveries.append(delivery)
        return delivery


def wechat_sandbox(data_dir: Path, base_url: str) -> WechatPaySandbox:
    """The sandbox the server will also build: same data dir, so the same platform and APIv3 keys."""
    options = SandboxOptions(data_dir=data_dir / "sandbox", public_base_url=base_url)
    _, sandbox = build_sandbox(options, lambda: httpx.AsyncClient())
    sandbox.sender = Keeper(lambda: httpx.AsyncClient(), options.time_factor)
    return sandbox


async def notifications(
    sandbox: WechatPaySandbox, out_trade_nos: list[str], base_url: str
) -> list[httpx.Request]:
    """One paid-order notification per order, sealed and signed by the sandbox, signed now."""
    for out_trade_no in out_trade_nos:
        sandbox.orders[out_trade_no] = SandboxOrder(
            out_trade_no=out_trade_no,
            appid=sandbox.appid,
            mchid=sandbox.mchid,
            description="还款 repayment",
            notify_url=f"{base_url}/notify/wechatpay",
            total=ORDER_FEN,
            currency="CNY",
            trade_type="NATIVE",
            token=random_token(),
            created_at=datetime.now(UTC),
            time_expire=None,
            fingerprint=(),
        )
        await sandbox.pay(out_trade_no, "pay")
    keeper = sandbox.sender
    return [delivery.build() for delivery in keeper.deliveries]


async def prepare(settings: Settings, n: int) -> list[str]:
    services = build_services(settings)
    try:
        return await make_orders(services, n, 32)
    finally:
        await services.aclose()


async def count_payments(settings: Settings) -> tuple[int, int]:
    services = build_services(settings)
    try:
        async with services.db.sessions() as session:
            payments = await session.scalar(select(func.count()).select_from(Payment))
            paid = await session.scalar(select(func.count()).select_from(Order).where(Order.status == "paid"))
        return int(payments or 0), int(paid or 0)
    finally:
        await services.aclose()


# -- the timed part --------------------------------------------------------------------------------


async def measure(
    server: subprocess.Popen[bytes], sandbox: WechatPaySandbox, out_trade_nos: list[str], concurrency: int
) -> tuple[Result, Result]:
    base_url = f"http://127.0.0.1:{PORT}"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        await wait_for_health(http, server)

        signed_at = time.time()
        requests = await notifications(sandbox, out_trade_nos, base_url)
        print(f"signed {len(requests)} notifications in {time.time() - signed_at:.1f} s")

        async def notify(i: int) -> bool:
            request = requests[i]
            try:
                r = await http.post("/notify/wechatpay", content=request.content, headers=request.headers)
            except httpx.HTTPError as exc:
                FAILURES[type(exc).__name__] += 1
                raise
            if r.status_code != 204:
                FAILURES[f"HTTP {r.status_code} {r.text[:80]}"] += 1
            return r.status_code == 204

        n = len(requests)
        cpu = cpu_seconds(server.pid)
        notified = await bounded(n, concurrency, notify, "POST /notify/wechatpay")
        notified.server_cpu = cpu_seconds(server.pid) - cpu
        if time.time() - signed_at >= MAX_SKEW:
            print("warning: the run outlasted WeChat's 300 s window; late notifications were refused")
        size = len(requests[0].content)
        bodies = [secrets.token_bytes(size) for _ in range(n)]  # as large as a notification

        async def bare(i: int) -> bool:
            r = await http.post(BARE_PATH, content=bodies[i], headers={"Content-Type": "application/json"})
            return r.status_code == 204

        cpu = cpu_seconds(server.pid)
        baseline = await bounded(n, concurrency, bare, "POST bare INSERT")
        baseline.server_cpu = cpu_seconds(server.pid) - cpu
    return notified, baseline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notifications", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    url = os.environ.get("PAYRECON_BENCH_DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgresql"):
        sys.exit("bench/notify_wechatpay.py runs on PostgreSQL only (PAYRECON_BENCH_DATABASE_URL)")
    asyncio.run(prepare_database(url))
    upgrade(url)
    data_dir = Path(tempfile.mkdtemp(prefix="payrecon-bench-notify-"))
    base_url = f"http://127.0.0.1:{PORT}"
    settings = Settings(
        data_dir=str(data_dir),
        database=DatabaseSettings(url=url, pool_size=20),
        server=ServerSettings(port=PORT, public_base_url=base_url, embedded_worker=False),
    )
    print(
        f"{args.notifications} WeChat Pay notifications, concurrency {args.concurrency}, PostgreSQL, 1 uvicorn worker"
    )
    t0 = time.time()
    out_trade_nos = asyncio.run(prepare(settings, args.notifications))
    print(f"prepared {len(out_trade_nos)} cases and orders in {time.time() - t0:.1f} s")
    sandbox = wechat_sandbox(data_dir, base_url)  # keys exist before the server starts
    env = {
        **os.environ,
        "PAYRECON_MODE": "sandbox",
        "PAYRECON_DATA_DIR": str(data_dir),
        "PAYRECON_DATABASE__URL": url,
        "PAYRECON_DATABASE__POOL_SIZE": "20",
        "PAYRECON_SERVER__PORT": str(PORT),
        "PAYRECON_SERVER__PUBLIC_BASE_URL": base_url,
        "PAYRECON_SERVER__EMBEDDED_WORKER": "false",
        "PAYRECON_LOGGING__LEVEL": "WARNING",
        "PAYRECON_BENCH_BARE_ROUTE": "1",
    }
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "bench.bare_app:create_bench_app", "--factory",
            "--host", "127.0.0.1", "--port", str(PORT), "--workers", "1",
            "--no-access-log", "--log-level", "warning",
        ],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    try:
        notified, baseline = asyncio.run(measure(server, sandbox, out_trade_nos, args.concurrency))
    finally:
        server.terminate()
        server.wait(10)
    payments, paid = asyncio.run(count_payments(settings))
    print(notified.line())
    if FAILURES:
        print(f"{'':<22} notification failures: {dict(FAILURES)}")
    print(baseline.line())
    ratio = notified.rate / baseline.rate
    print(f"ratio notify/bare throughput: {ratio:.2f}")
    print(f"ratio notify/bare server CPU per request: {notified.server_cpu / baseline.server_cpu:.2f}")
    print(
        f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    print(f"payments recorded: {payments}, orders paid: {paid} (of {len(out_trade_nos)})")
    print(
        f"targets: throughput >= 0.5 x bare: {'met' if ratio >= 0.5 else 'NOT met'}; "
        f"p99 < 100 ms: {'met' if notified.percentile(0.99) < 100 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
