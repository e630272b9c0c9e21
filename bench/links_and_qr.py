"""Links issued per second through the HTTP API, and QR renders per second (PNG and SVG, cold and cached).

    .venv/bin/python bench/links_and_qr.py [--links 5000] [--concurrency 32] [--qr 300]

Links: cases are made first through the service layer (not timed), then one link per case is issued
through `POST /v1/cases/{id}/links` on uvicorn (1 worker, loopback), and the same number through the
service layer for comparison; the amount policy cycles through full_balance, fixed, range and
instalments. Uses its own PostgreSQL database (PAYRECON_BENCH_DATABASE_URL, default database
`payrecon_bench_links` on the local server), which it drops and re-creates.

QR: `payments.services.qrcodes` in this process. Cold means the cache was cleared and every URL is
new (`render_png.cache_clear()`); cached means the same URLs again. "async" is the wrapper the pages
call (`await qrcodes.png(url)`), which hops to a worker thread even on a cache hit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

import httpx
import msgspec

# A sibling module: run as a script, this file's folder is first on sys.path.
from scratch_db import reset_database
from server_wait import wait_for_health

from payments.domain.identity import id_check_digit
from payments.persistence.migrate import upgrade
from payments.services import qrcodes
from payments.services.access import Principal, Role, create_api_key, create_client
from payments.services.case_input import CaseIn, to_command
from payments.services.container import build_services
from payments.services.links import LinkIn
from payments.settings import DatabaseSettings, ServerSettings, Settings

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/payrecon_bench_links"
PUBLIC = "https://pay.example-lender.com.cn"  # a 25-character host, as in an SMS
PORT = 8932


def case_body(i: int, prefix: str) -> dict:
    rng = random.Random(i)
    body17 = f"110105{1960 + rng.randrange(40)}{1 + rng.randrange(12):02d}{1 + rng.randrange(28):02d}{rng.randrange(1000):03d}"
    return {
        "external_ref": f"{prefix}-{i:06d}",
        "debtor": {
            "name": "测试人",
            "id_number": body17 + id_check_digit(body17),
            "phone": f"139{rng.randrange(10**8):08d}",
        },
        "debts": [
            {
                "debt_id": "d1",
                "due_date": "2026-01-31",
                "principal_fen": rng.randrange(100_000, 5_000_000),
                "interest": "12.34",
                "fees_fen": 500,
            }
        ],
    }


def link_body(i: int) -> dict:
    soon = date.today() + timedelta(days=30)
    return [
        {},
        {"amount_policy": {"kind": "fixed", "amount": "500.00"}, "max_payments": 1},
        {"amount_policy": {"kind": "range", "min_amount_fen": 10_000}, "channels": ["alipay", "wechatpay"]},
        {
            "amount_policy": {
                "kind": "instalments",
                "instalments": [
                    {"due_date": soon.isoformat(), "amount": "300.00"},
                    {"due_date": (soon + timedelta(days=30)).isoformat(), "amount": "300.00"},
                ],
            }
        },
    ][i % 4]


def summarise(name: str, unit: str, latencies: list[float], elapsed: float) -> float:
    latencies.sort()
    rate = len(latencies) / elapsed
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000
    print(
        f"{name:<22} {len(latencies):>6} {unit} in {elapsed:6.2f} s  {rate:9.1f} {unit}/s  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"
    )
    return rate


async def run_bounded(
    n: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> tuple[list[float], float]:
    latencies: list[float] = []
    next_i = iter(range(n))

    async def worker() -> None:
        for i in next_i:
            t0 = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


async def make_cases(settings: Settings, name: str, n: int) -> tuple[str, str, str, list[str]]:
    """A client with a case_system key and n cases, made through the service layer (not timed)."""
    services = build_services(settings)
    client_id = await create_client(services.db, name)
    key_id, token = await create_api_key(services.db, client_id, Role.CASE_SYSTEM)
    principal = Principal(client_id, key_id, Role.CASE_SYSTEM)
    ids: list[str] = []

    async def one(i: int) -> None:
        result = await services.cases.upsert_case(
            principal, to_command(msgspec.convert(case_body(i, name), CaseIn))
        )
        ids.append(result.view.id)

    await run_bounded(n, 16, one)
    await services.aclose()
    return client_id, key_id, token, ids


async def bench_links_service(settings: Settings, n: int, concurrency: int) -> float:
    client_id, key_id, _, case_ids = await make_cases(settings, "SVC", n)
    services = build_services(settings)
    principal = Principal(client_id, key_id, Role.CASE_SYSTEM)

    async def one(i: int) -> None:
        await services.links.issue_link(principal, case_ids[i], msgspec.convert(link_body(i), LinkIn))

    latencies, elapsed = await run_bounded(n, concurrency, one)
    await services.aclose()
    return summarise("links, service layer", "links", latencies, elapsed)


async def bench_links_http(settings: Settings, env: dict[str, str], n: int, concurrency: int) -> float:
    _, _, token, case_ids = await make_cases(settings, "HTTP", n)
    proc = subprocess.Popen([sys.executable, "-m", "payments.cli", "serve"], env=env)
    url_lengths: set[int] = set()
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{PORT}", timeout=30, limits=httpx.Limits(max_connections=concurrency)
        ) as http:
            await wait_for_health(http, proc)
            headers = {"Authorization": f"Bearer {token}"}

            async def one(i: int) -> None:
                r = await http.post(f"/v1/cases/{case_ids[i]}/links", json=link_body(i), headers=headers)
                if r.status_code != 201:
                    raise RuntimeError(f"{r.status_code} {r.text[:200]}")
                url_lengths.add(len(r.json()["url"]))

            latencies, elapsed = await run_bounded(n, concurrency, one)
    finally:
        proc.terminate()
        proc.wait(10)
    rate = summarise("links, HTTP API", "links", latencies, elapsed)
    print(f"{'':<22} link URL length with a 25-character host: {sorted(url_lengths)}")
    return rate


def timed(name: str, calls: list[Callable[[], object]]) -> float:
    latencies = []
    start = time.perf_counter()
    for call in calls:
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    return summarise(name, "renders", latencies, time.perf_counter() - start)


def bench_qr(n: int) -> None:
    urls = [f"{PUBLIC}/pay/{secrets.token_urlsafe(16)}" for _ in range(n)]
    for kind, render in (("PNG", qrcodes.render_png), ("SVG", qrcodes.render_svg)):
        render.cache_clear()
        timed(f"QR {kind} cold", [lambda u=u, r=render: r(u) for u in urls])
        timed(f"QR {kind} cached", [lambda u=u, r=render: r(u) for u in urls * 100])

        async def via_wrapper(kind: str = kind) -> None:
            wrapper = qrcodes.png if kind == "PNG" else qrcodes.svg
            latencies = []
            start = time.perf_counter()
            for u in urls * 10:
                t0 = time.perf_counter()
                await wrapper(u)
                latencies.append(time.perf_counter() - t0)
            summarise(f"QR {kind} cached, async", "renders", latencies, time.perf_counter() - start)

        asyncio.run(via_wrapper())
    size_png = len(qrcodes.render_png(urls[0]))
    size_svg = len(qrcodes.render_svg(urls[0]))
    print(f"{'':<22} sizes for a {len(urls[0])}-character URL: PNG {size_png} bytes, SVG {size_svg} bytes")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--links", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--qr", type=int, default=300, help="distinct URLs for the QR renders")
    args = parser.parse_args()
    url = os.environ.get("PAYRECON_BENCH_DATABASE_URL", DEFAULT_URL)
    asyncio.run(reset_database(url))
    upgrade(url)
    data_dir = Path(tempfile.mkdtemp(prefix="payrecon-bench-links-"))
    settings = Settings(
        data_dir=str(data_dir),
        database=DatabaseSettings(url=url, pool_size=20),
        server=ServerSettings(public_base_url=PUBLIC, embedded_worker=False),
    )
    env = {
        **os.environ,
        "PAYRECON_DATA_DIR": str(data_dir),
        "PAYRECON_DATABASE__URL": url,
        "PAYRECON_DATABASE__POOL_SIZE": "20",
        "PAYRECON_SERVER__PORT": str(PORT),
        "PAYRECON_SERVER__PUBLIC_BASE_URL": PUBLIC,
        "PAYRECON_SERVER__EMBEDDED_WORKER": "false",
        "PAYRECON_LOGGING__LEVEL": "WARNING",
    }
    print(f"issue {args.links} links, concurrency {args.concurrency}, PostgreSQL, 1 uvicorn worker")
    svc = asyncio.run(bench_links_service(settings, args.links, args.concurrency))
    http = asyncio.run(bench_links_http(settings, env, args.links, args.concurrency))
    print(f"ratio HTTP/service throughput: {http / svc:.2f}")
    print(f"QR renders in this process, {args.qr} distinct URLs (error correction M, quiet zone 4)")
    bench_qr(args.qr)


if __name__ == "__main__":
    main()
