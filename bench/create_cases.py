"""Create N cases through the HTTP API (uvicorn on loopback) and through the service layer, on PostgreSQL.

    .venv/bin/python bench/create_cases.py [--cases 10000] [--concurrency 32]

Uses its own database (PAYRECON_BENCH_DATABASE_URL, default database `payrecon_bench` on the local
PostgreSQL), which it drops and re-creates. Prints cases/s, p50 and p99 latency for each path and the
ratio HTTP/service.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

# A sibling module: run as a script, this file's folder is first on sys.path.
from scratch_db import reset_database
from server_wait import wait_for_health

from payments.domain.identity import id_check_digit
from payments.persistence.migrate import upgrade
from payments.services.access import Principal, Role, create_api_key, create_client
from payments.services.case_input import CaseIn, to_command
from payments.services.container import build_services
from payments.settings import DatabaseSettings, Settings

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/payrecon_bench"


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
                "debt_id": f"d{j}",
                "due_date": (date(2026, 1, 1) + timedelta(days=30 * j)).isoformat(),
                "principal_fen": rng.randrange(10_000, 5_000_000),
                "interest": "12.34",
                "fees_fen": 500,
            }
            for j in range(1 + rng.randrange(3))
        ],
    }


def summarise(name: str, latencies: list[float], elapsed: float) -> float:
    latencies.sort()
    rate = len(latencies) / elapsed
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"{name:<14} {len(latencies):>6} cases in {elapsed:6.2f} s  {rate:8.1f} cases/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
    )
    return rate


async def run_bounded(n: int, concurrency: int, one) -> tuple[list[float], float]:  # type: ignore[no-untyped-def]
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


async def bench_service(settings: Settings, n: int, concurrency: int) -> float:
    services = build_services(settings)
    client_id = await create_client(services.db, "bench-service")
    key_id, _ = await create_api_key(services.db, client_id, Role.CASE_SYSTEM)
    principal = Principal(client_id, key_id, Role.CASE_SYSTEM)
    import msgspec

    async def one(i: int) -> None:
        data = msgspec.convert(case_body(i, "SVC"), CaseIn)
        await services.cases.upsert_case(principal, to_command(data))

    latencies, elapsed = await run_bounded(n, concurrency, one)
    await services.aclose()
    return summarise("service layer", latencies, elapsed)


async def bench_http(settings: Settings, env: dict[str, str], n: int, concurrency: int) -> float:
    services = build_services(settings)
    client_id = await create_client(services.db, "bench-http")
    _, token = await create_api_key(services.db, client_id, Role.CASE_SYSTEM)
    await services.aclose()
    port = 8931
    proc = subprocess.Popen(
        [sys.executable, "-m", "payments.cli", "serve"],
        env={**env, "PAYRECON_SERVER__PORT": str(port), "PAYRECON_LOGGING__LEVEL": "WARNING"},
    )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=30, limits=httpx.Limits(max_connections=concurrency)
        ) as http:
            await wait_for_health(http, proc)
            headers = {"Authorization": f"Bearer {token}"}

            async def one(i: int) -> None:
                r = await http.post("/v1/cases", json=case_body(i, "HTTP"), headers=headers)
                if r.status_code != 201:
                    raise RuntimeError(f"{r.status_code} {r.text[:200]}")

            latencies, elapsed = await run_bounded(n, concurrency, one)
    finally:
        proc.terminate()
        proc.wait(10)
    return summarise("HTTP API", latencies, elapsed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    url = os.environ.get("PAYRECON_BENCH_DATABASE_URL", DEFAULT_URL)
    asyncio.run(reset_database(url))
    upgrade(url)
    data_dir = Path(tempfile.mkdtemp(prefix="payrecon-bench-"))
    settings = Settings(data_dir=str(data_dir), database=DatabaseSettings(url=url, pool_size=20))
    env = {
        **os.environ,
        "PAYRECON_DATA_DIR": str(data_dir),
        "PAYRECON_DATABASE__URL": url,
        "PAYRECON_DATABASE__POOL_SIZE": "20",
    }
    print(f"create {args.cases} cases, concurrency {args.concurrency}, PostgreSQL, 1 uvicorn worker")
    svc = asyncio.run(bench_service(settings, args.cases, args.concurrency))
    http = asyncio.run(bench_http(settings, env, args.cases, args.concurrency))
    print(f"ratio HTTP/service throughput: {http / svc:.2f}")


if __name__ == "__main__":
    main()
