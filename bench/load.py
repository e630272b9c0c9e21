"""Load test: wrk against the running service on PostgreSQL, a mix of WeChat Pay notifications (40 %),
pay-page views (40 %) and case-system API reads (20 %), then the same server's bare one-INSERT route
as the ceiling.

    .venv/bin/python bench/load.py [--seconds 60] [--connections 64] [--threads 2] [--notifications 8000]

Needs wrk (Debian: `apt-get install wrk`). PostgreSQL only: its own database
(PAYRECON_BENCH_DATABASE_URL, default `payrecon_bench_load` on the local server), dropped and made
again. One uvicorn worker on loopback, scheduler off (as a web process in production).

Not timed: cases, links and pending orders (service layer and rows), and one signed WeChat notification
per order, made by the sandbox's own code (signed just before the run, inside WeChat's 300 s window).
Timed: the mix for --seconds, then the bare route for a third of that. wrk runs on the same machine
as the server and the database, so all three share its cores: read the figures as a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import msgspec
from bare_app import CREATE_BARE_TABLE
from notify_wechatpay import Keeper, make_orders, notifications
from scratch_db import reset_database
from server_wait import wait_for_health
from sqlalchemy import select

from payments.persistence.migrate import upgrade
from payments.persistence.tables import Case
from payments.services.access import Principal, Role, create_api_key
from payments.services.container import build_services
from payments.services.links import LinkIn
from payments.settings import DatabaseSettings, ServerSettings, Settings
from providers.simulator import SandboxOptions
from providers.wechatpay.sandbox import build_sandbox

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/payrecon_bench_load"
PORT = 8934
HERE = Path(__file__).resolve().parent
SEP = "\x1f"


def line(kind: str, method: str, path: str, headers: dict[str, str], body: str = "") -> str:
    # wrk writes Host and Content-Length itself and refuses a request that carries its own.
    headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
    return "\t".join([kind, method, path, SEP.join(f"{k}={v}" for k, v in headers.items()), body])


async def prepare(
    settings: Settings, n_orders: int, n_links: int
) -> tuple[list[str], list[str], list[str], str]:
    services = build_services(settings)
    try:
        out_trade_nos = await make_orders(services, n_orders, 32)
        async with services.db.sessions() as session:
            case_ids = list((await session.scalars(select(Case.id).limit(n_links))).all())
            client_id = (await session.scalar(select(Case.client_id).limit(1))) or ""
        key_id, token = await create_api_key(services.db, client_id, Role.CASE_SYSTEM)
        principal = Principal(client_id, key_id, Role.CASE_SYSTEM)
        urls = []
        for case_id in case_ids:
            link = await services.links.issue_link(principal, case_id, msgspec.convert({}, LinkIn))
            urls.append(link.url)
        return out_trade_nos, case_ids, urls, token
    finally:
        await services.aclose()


def run_wrk(
    script: Path, url: str, seconds: int, connections: int, threads: int, env: dict[str, str]
) -> dict[str, float]:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    print(out)
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", out, re.MULTILINE)
        value, unit = float(m.group(1)), m.group(2)  # type: ignore[union-attr]
        result[f"p{pct}_ms"] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["errors"] = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--notifications", type=int, default=8000)
    parser.add_argument("--links", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/load.py needs wrk (Debian: apt-get install wrk)")
    url = os.environ.get("PAYRECON_BENCH_DATABASE_URL", DEFAULT_URL)
    asyncio.run(reset_database(url))
    upgrade(url)

    async def bare_table() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.execute(CREATE_BARE_TABLE)
        finally:
            await conn.close()

    asyncio.run(bare_table())
    data_dir = Path(tempfile.mkdtemp(prefix="payrecon-bench-load-"))
    base = f"http://127.0.0.1:{PORT}"
    settings = Settings(
        data_dir=str(data_dir),
        database=DatabaseSettings(url=url, pool_size=20),
        server=ServerSettings(port=PORT, public_base_url=base, embedded_worker=False),
    )
    t0 = time.time()
    out_trade_nos, case_ids, urls, token = asyncio.run(prepare(settings, args.notifications, args.links))
    print(f"prepared {len(out_trade_nos)} orders, {len(urls)} links in {time.time() - t0:.1f} s")
    options = SandboxOptions(data_dir=data_dir / "sandbox", public_base_url=base)
    _, sandbox = build_sandbox(options, lambda: httpx.AsyncClient())
    sandbox.sender = Keeper(lambda: httpx.AsyncClient(), options.time_factor)

    env = {
        **os.environ,
        "PAYRECON_DATA_DIR": str(data_dir),
        "PAYRECON_DATABASE__URL": url,
        "PAYRECON_DATABASE__POOL_SIZE": "20",
        "PAYRECON_SERVER__PORT": str(PORT),
        "PAYRECON_SERVER__PUBLIC_BASE_URL": base,
        "PAYRECON_SERVER__EMBEDDED_WORKER": "false",
        "PAYRECON_LOGGING__LEVEL": "WARNING",
        "PAYRECON_BENCH_BARE_ROUTE": "1",
    }
    env.pop("PAYRECON_BENCH_DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.bare_app:create_bench_app", "--factory", "--host", "127.0.0.1",
         "--port", str(PORT), "--workers", "1", "--no-access-log", "--log-level", "warning"],
        env=env, cwd=HERE.parent,
    )  # fmt: skip
    try:

        async def ready() -> list:  # type: ignore[type-arg]
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                await wait_for_health(http, server)
                return await notifications(sandbox, out_trade_nos, base)

        requests = asyncio.run(ready())
        lines = [
            line("notify", "POST", "/notify/wechatpay", dict(r.headers), r.content.decode()) for r in requests
        ]
        lines += [line("page", "GET", httpx.URL(u).path, {"Accept-Language": "zh-CN"}) for u in urls]
        lines += [
            line("api", "GET", f"/v1/cases/{c}", {"Authorization": f"Bearer {token}"}) for c in case_ids
        ]
        load_file = data_dir / "requests.tsv"
        load_file.write_text("\n".join(lines) + "\n")
        wrk_env = {
            **os.environ,
            "PAYRECON_LOAD_FILE": str(load_file),
            "PAYRECON_LOAD_THREADS": str(args.threads),
        }
        print(f"mix: {args.seconds} s, {args.connections} connections, {args.threads} wrk threads")
        mix = run_wrk(HERE / "load_mix.lua", base, args.seconds, args.connections, args.threads, wrk_env)
        bare_seconds = max(args.seconds // 3, 5)
        print(f"bare route: {bare_seconds} s")
        bare = run_wrk(
            HERE / "load_bare.lua",
            f"{base}/notify/_bench_bare",
            bare_seconds,
            args.connections,
            args.threads,
            wrk_env,
        )
    finally:
        server.terminate()
        server.wait(10)
    for name, r in (("mix", mix), ("bare", bare)):
        print(
            f"{name:<5} {r['rps']:9.1f} req/s  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  errors {int(r['errors'])}"
        )
    print(f"ratio mix/bare throughput: {mix['rps'] / bare['rps']:.2f}")
    print(
        f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
