"""Webhooks on PostgreSQL: deliveries per second to a loopback receiver, and the delay from a payment
being recorded to its webhook arriving (p50/p99) under a steady load.

    .venv/bin/python bench/webhooks.py [--events 20000] [--rate 50] [--seconds 60] [--embedded]

Uses its own database (PAYRECON_BENCH_DATABASE_URL, default `payrecon_bench_webhooks` on the local
PostgreSQL), which it drops and re-creates. The receiver is a separate process (uvicorn on 127.0.0.1)
that verifies every signature with the `standardwebhooks` package and notes when each webhook arrived.
The dispatcher runs as in production: `payrecon worker` in its own process (the scheduler's interval
job plus LISTEN/NOTIFY wake-ups), sending through the SSRF-guarded transport. `--embedded` runs it in
the process that records the payments instead (the single-instance default, in-process wake-ups).

1. Throughput: `--events` case.updated events over `--events`/10 cases (10 per case, so the order per
   case is exercised) are written first, then the dispatcher is started; deliveries per second are
   counted at the receiver, from the first arrival to the last.
2. Latency: payments are recorded through the service layer (order + payment, then the applier
   allocates it, as the notification path does) at `--rate` per second for `--seconds`; for each, the
   time from the commit that recorded it to the arrival of its payment.received webhook, and of its
   payment.matched webhook (which includes applying the payment).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx
import uvloop

# A sibling module: run as a script, this file's folder is first on sys.path.
from scratch_db import reset_database

from payments.domain.identity import id_check_digit
from payments.domain.money import Money
from payments.outbox.views import EndpointIn
from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.migrate import upgrade
from payments.persistence.tables import Order
from payments.services.access import Principal, Role, create_api_key, create_client
from payments.services.case_input import CaseIn, to_command
from payments.services.container import Services, build_services
from payments.services.orders import new_out_trade_no
from payments.services.outbox import emit
from payments.services.recording import record_order_payment
from payments.settings import DatabaseSettings, Settings
from reconciliation.scheduler import build_scheduler

ID17 = "11010519900307001"
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/payrecon_bench_webhooks"
PORT = 8941

# -- the receiver (its own process) ---------------------------------------------------------------------


def receiver_app(secret_file: str):  # type: ignore[no-untyped-def]
    from standardwebhooks.webhooks import Webhook

    arrivals: dict[str, float] = {}  # "<type> <payment or case id>" -> first arrival (time.time())
    state = {"count": 0, "refused": 0, "hook": None}

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        now = time.time()
        if scope["method"] == "GET":
            stats = {"count": state["count"], "refused": state["refused"]}
            out = json.dumps(arrivals if scope["path"] == "/arrivals" else stats).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": out})
            return
        if state["hook"] is None:
            state["hook"] = Webhook(Path(secret_file).read_text().strip())
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        try:
            event = state["hook"].verify(body, headers)
        except Exception:
            state["refused"] += 1
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        state["count"] += 1
        data = event["data"]
        key = f"{event['type']} {data.get('payment_id') or event['id']}"
        arrivals.setdefault(key, now)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def run_receiver(port: int, secret_file: str) -> None:
    import uvicorn

    uvicorn.run(receiver_app(secret_file), host="127.0.0.1", port=port, log_level="warning", lifespan="on")


# -- the bench ----------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    values = sorted(values)
    return values[max(0, math.ceil(p / 100 * len(values)) - 1)]


async def receiver_state(http: httpx.AsyncClient) -> dict:
    """How many webhooks arrived (cheap: polled)."""
    return (await http.get(f"http://127.0.0.1:{PORT}/stats")).json()


async def receiver_arrivals(http: httpx.AsyncClient) -> dict[str, float]:
    """When each webhook first arrived (large: fetched once per phase)."""
    return (await http.get(f"http://127.0.0.1:{PORT}/arrivals")).json()


async def wait_for(http: httpx.AsyncClient, count: int, timeout: float) -> dict:
    deadline = time.perf_counter() + timeout
    while True:
        state = await receiver_state(http)
        if state["count"] >= count or time.perf_counter() > deadline:
            return state
        await asyncio.sleep(0.2)


async def make_cases(services: Services, principal: Principal, n: int) -> list[str]:
    import msgspec

    ids = []
    for i in range(n):
        body = {
            "external_ref": f"BENCH-{i:05d}",
            "debtor": {"name": "测试人", "id_number": ID17 + id_check_digit(ID17), "phone": "13800000001"},
            "debts": [
                {"debt_id": "d1", "due_date": date(2026, 1, 1).isoformat(), "principal_fen": 50_000_000}
            ],
        }
        data = msgspec.convert(body, CaseIn)
        ids.append((await services.cases.upsert_case(principal, to_command(data))).view.id)
    return ids


async def throughput(
    services: Services, client_id: str, http: httpx.AsyncClient, events: int, start_dispatcher
) -> None:  # type: ignore[no-untyped-def]
    per_case = 10
    cases = [f"case_bench{i:05d}" for i in range(events // per_case)]
    written = 0
    for start in range(0, len(cases), 10):
        async with services.db.transaction() as session:
            for case_id in cases[start : start + 10]:
                for n in range(per_case):
                    emit(
                        session,
                        client_id,
                        "case.updated",
                        case_id=case_id,
                        payload={
                            "case_id": case_id,
                            "status": "partially_paid",
                            "balance": {"principal_fen": n, "interest_fen": 0, "fees_fen": 0, "total_fen": n},
                            "credit_fen": 0,
                        },
                    )
                    written += 1
    before = (await receiver_state(http))["count"]
    await start_dispatcher()
    state = await wait_for(http, before + written, 300)
    times = [t for key, t in (await receiver_arrivals(http)).items() if key.startswith("case.updated ")]
    got, elapsed = len(times), max(times) - min(times)
    print(
        f"throughput: {got} of {written} webhooks delivered in {elapsed:.2f} s = {got / elapsed:.0f} deliveries/s "
        f"({len(cases)} cases x {per_case} events, in order per case; receiver refused {state['refused']})"
    )


async def latency(
    services: Services,
    client_id: str,
    case_ids: list[str],
    http: httpx.AsyncClient,
    rate: float,
    seconds: float,
) -> None:
    commits: dict[str, tuple[float, str]] = {}  # payment id -> (commit time, case id)

    async def pay(case_id: str) -> None:
        now = utcnow()
        async with services.db.transaction() as session:
            order = Order(
                id=new_id("ord"),
                client_id=client_id,
                case_id=case_id,
                link_id=None,
                provider="alipay",
                out_trade_no=new_out_trade_no(),
                amount_fen=100,
                currency="CNY",
                status="pending",
                provider_txn_id=None,
                qr_payload=None,
                provider_ref="",
                created_at=now,
                expires_at=now + timedelta(minutes=30),
                paid_at=None,
            )
            session.add(order)
            await session.flush()
            payment_id = await record_order_payment(
                session,
                order=order,
                provider="alipay",
                provider_txn_id=uuid.uuid4().hex,
                amount=Money(100),
                received_at=None,
                source="notification",
            )
        commits[str(payment_id)] = (time.time(), case_id)
        services.applier.wake()  # as the notification path does: applied to the case right after

    before = (await receiver_state(http))["count"]
    tasks = []
    total = int(rate * seconds)
    t0 = time.perf_counter()
    for i in range(total):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(pay(case_ids[i % len(case_ids)])))
    await asyncio.gather(*tasks)
    sent = time.perf_counter() - t0
    # Three webhooks a payment (received, matched, case.updated); a case.closed now and then.
    await wait_for(http, before + 3 * len(commits), 120)
    arrivals = await receiver_arrivals(http)
    received = [
        arrivals[f"payment.received {p}"] - t
        for p, (t, _) in commits.items()
        if f"payment.received {p}" in arrivals
    ]
    matched = [
        arrivals[f"payment.matched {p}"] - t
        for p, (t, _) in commits.items()
        if f"payment.matched {p}" in arrivals
    ]
    print(
        f"latency: {len(commits)} payments at {rate:g}/s for {sent:.1f} s ({len(case_ids)} cases), "
        f"3 webhooks each (payment.received, payment.matched, case.updated)"
    )
    for name, values in (("payment.received", received), ("payment.matched", matched)):
        print(
            f"  commit -> {name:<17} arrived {len(values)}/{len(commits)}  p50 {statistics.median(values) * 1000:7.1f} ms"
            f"  p99 {percentile(values, 99) * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms"
        )


async def bench(settings: Settings, env: dict[str, str], secret_file: Path, args: argparse.Namespace) -> None:
    services = build_services(settings)
    worker: subprocess.Popen | None = None
    scheduler = None

    async def start_dispatcher() -> None:
        nonlocal worker, scheduler
        if args.embedded:  # as `payrecon serve` with the embedded worker: interval job + in-process wake
            scheduler = build_scheduler(services)
            scheduler.start()
        else:
            worker = subprocess.Popen([sys.executable, "-m", "payments.cli", "worker"], env=env)

    try:
        client_id = await create_client(services.db, "bench-webhooks")
        key_id, _ = await create_api_key(services.db, client_id, Role.CASE_SYSTEM)
        principal = Principal(client_id, key_id, Role.CASE_SYSTEM)
        endpoint = await services.webhooks.create(principal, EndpointIn(url=f"http://127.0.0.1:{PORT}/hook"))
        secret_file.write_text(endpoint.secret)
        case_ids = await make_cases(services, principal, 500)
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(100):
                try:
                    await receiver_state(http)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            await throughput(services, client_id, http, args.events, start_dispatcher)
            await latency(services, client_id, case_ids, http, args.rate, args.seconds)
            state = await receiver_state(http)
            print(
                f"receiver: {state['count']} webhooks verified with standardwebhooks, {state['refused']} refused"
            )
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if worker is not None:
            worker.terminate()
            worker.wait(10)
        await services.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--embedded", action="store_true", help="dispatch in the recording process")
    parser.add_argument("--receiver", nargs=2, metavar=("PORT", "SECRET_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(int(args.receiver[0]), args.receiver[1])
        return
    url = os.environ.get("PAYRECON_BENCH_DATABASE_URL", DEFAULT_URL)
    asyncio.run(reset_database(url))
    upgrade(url)
    data_dir = Path(tempfile.mkdtemp(prefix="payrecon-bench-webhooks-"))
    secret_file = data_dir / "receiver-secret"
    secret_file.write_text("whsec_" + "A" * 44)  # replaced once the endpoint exists
    settings = Settings(data_dir=str(data_dir), database=DatabaseSettings(url=url, pool_size=20))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAYRECON_")},
        "PAYRECON_DATA_DIR": str(data_dir),
        "PAYRECON_DATABASE__URL": url,
        "PAYRECON_DATABASE__POOL_SIZE": "20",
        "PAYRECON_LOGGING__LEVEL": "WARNING",
    }
    where = "in the recording process (--embedded)" if args.embedded else "in a `payrecon worker` process"
    print(
        f"webhooks on PostgreSQL; dispatcher {where}; receiver on 127.0.0.1:{PORT} (uvicorn, its own "
        f"process); cpus {os.cpu_count()}"
    )
    receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(PORT), str(secret_file)])
    try:
        # uvloop, as under `payrecon serve` (uvicorn picks it when installed)
        uvloop.run(bench(settings, env, secret_file, args))
    finally:
        receiver.terminate()
        receiver.wait(10)


if __name__ == "__main__":
    main()
