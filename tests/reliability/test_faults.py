"""Faults: the database going away under a running web process, and a worker killed with SIGKILL in
the middle of matching. Nothing is lost or doubled, and the service recovers by itself."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

import httpx
import msgspec
import pytest
from sqlalchemy import func, select

from payments.persistence.tables import AllocationRow, OutboxEvent, Payment
from payments.persistence.tables_recon import BankAccount
from payments.services.access import Principal, Role, create_api_key, create_client
from payments.services.case_input import CaseIn, to_command
from payments.services.container import Services
from providers.base import BEIJING
from reconciliation.bank_import import add_account, store_lines
from reconciliation.bankfiles.model import BankStatementLine
from reconciliation.ledger import find_violations
from reconciliation.matching import match_unreferenced
from tests.reliability.conftest import REPO, Cluster, PgProxy, wait_until
from tests.reliability.test_several_instances import _notifications, _orders

pytestmark = pytest.mark.postgres
TRANSFERS = 1000  # five write batches: the kill lands after the first, long before the last


async def test_without_its_database_a_web_process_is_not_ready_and_asks_providers_to_retry_then_recovers(
    cluster: Cluster, cluster_services: Services
):
    proxy = PgProxy()
    await proxy.start()
    # asyncpg's own connections go through the proxy; the web process is started on the event loop's
    # thread pool so the proxy (on this loop) keeps serving while the process starts.
    proxied = cluster.db_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    try:
        web = await asyncio.to_thread(cluster.start_web, "web-proxied", db_url=proxied)
        _, orders = await _orders(cluster_services, 1)
        [request] = await _notifications(cluster, orders, web)
        async with httpx.AsyncClient(base_url=web, timeout=15) as http:
            assert (await http.get("/ready")).status_code == 200

            proxy.cut()

            async def not_ready() -> bool | int:
                code = (await http.get("/ready")).status_code
                return True if code == 503 else code

            await wait_until(not_ready, 20, "/ready answers 503 without the database")
            refused = await http.post("/notify/wechatpay", content=request.content, headers=request.headers)
            assert refused.status_code == 500 and refused.json()["code"] == "FAIL"  # WeChat sends it again

            proxy.restore()

            async def ready() -> bool | int:
                code = (await http.get("/ready")).status_code
                return True if code == 200 else code

            await wait_until(ready, 30, "/ready recovers when the database returns")
            accepted = await http.post("/notify/wechatpay", content=request.content, headers=request.headers)
            assert accepted.status_code == 204, accepted.text
        async with cluster_services.db.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Payment)
                .where(Payment.out_trade_no == orders[0].out_trade_no)
            )
        assert count == 1
    finally:
        await proxy.stop()


async def _transfers(services: Services, n: int) -> str:
    client_id = await create_client(services.db, "Fault Lender")
    code = f"FAULT-{client_id[-8:]}"
    await add_account(services, client_id=client_id, code=code)
    key_id, _ = await create_api_key(services.db, client_id, Role.CASE_SYSTEM)
    principal = Principal(client_id, key_id, Role.CASE_SYSTEM)
    lines = []
    day = datetime.now(BEIJING).date()
    for i in range(n):
        body = {
            "external_ref": f"KL-{i:05d}",
            "debtor": {"name": "测试人", "id_number": "11010519491231002X", "phone": "13912345678"},
            "debts": [{"debt_id": "d1", "due_date": "2026-01-31", "principal_fen": 20_000 + i}],
        }
        await services.cases.upsert_case(principal, to_command(msgspec.convert(body, CaseIn)))
        lines.append(
            BankStatementLine(
                line_no=i + 1,
                bank_ref=f"KL{i:06d}",
                booked_on=day,
                booked_at=datetime.combine(day, datetime.min.time(), BEIJING),
                amount_fen=20_000 + i,
                currency="CNY",
                memo=f"还款 KL-{i:05d}",
                payer_name="测试人",
                payer_account="",
            )
        )
    async with services.db.sessions() as session:
        account = await session.scalar(select(BankAccount).where(BankAccount.code == code))
    assert account is not None
    await store_lines(services, account, lines, "csv")
    return client_id


async def test_a_matching_run_killed_midway_is_finished_by_the_next_run_without_doubling(
    cluster: Cluster, cluster_services: Services
):
    client_id = await _transfers(cluster_services, TRANSFERS)

    async def matched() -> int:
        async with cluster_services.db.sessions() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(Payment)
                    .where(Payment.client_id == client_id, Payment.status == "matched")
                )
                or 0
            )

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "payments.cli",
        "recon",
        "match",
        "--client",
        client_id,
        env=cluster.env(),
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )

    async def started() -> bool | int:
        return True if await matched() > 0 else 0

    await wait_until(started, 60, "the matching run applied its first batch", interval=0.05)
    process.kill()  # SIGKILL: mid-run; its open transaction is rolled back by the database
    await process.wait()
    partial = await matched()

    report = await match_unreferenced(cluster_services, client_id=client_id)

    assert 0 < partial < TRANSFERS, partial  # the kill did land mid-run
    assert report.applied == TRANSFERS - partial
    assert await matched() == TRANSFERS
    async with cluster_services.db.sessions() as session:
        per_payment = dict(
            (
                await session.execute(
                    select(AllocationRow.payment_id, func.sum(AllocationRow.amount_fen))
                    .join(Payment, Payment.id == AllocationRow.payment_id)
                    .where(Payment.client_id == client_id)
                    .group_by(AllocationRow.payment_id)
                )
            ).all()
        )
        amounts = dict(
            (
                await session.execute(
                    select(Payment.id, Payment.amount_fen).where(Payment.client_id == client_id)
                )
            ).all()
        )
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.client_id == client_id, OutboxEvent.type == "payment.matched")
        )
        ledger = await find_violations(session)
    assert per_payment == amounts
    assert events == TRANSFERS
    assert [v for v in ledger.violations if v.client_id == client_id] == []
