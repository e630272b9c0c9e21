"""Two web processes and two workers on one PostgreSQL database, driven together.

A storm of WeChat Pay notifications, each sent three times over both web processes, while one worker
is killed with SIGKILL and replaced: every payment is recorded once and applied once, every webhook is
delivered (duplicates only as the same message again), and the ledger holds for every case.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import AllocationRow, Order, Payment, WebhookDelivery, WebhookMessage
from payments.services.access import Principal, Role, create_api_key, create_client
from payments.services.case_input import CaseIn, to_command
from payments.services.container import Services
from payments.services.orders import new_out_trade_no
from providers.simulator import NotificationDelivery, NotificationSender, SandboxOptions
from providers.wechatpay.sandbox import build_sandbox
from providers.wechatpay.sandbox_store import SandboxOrder, random_token
from reconciliation.ledger import find_violations
from tests.reliability.conftest import Cluster, Receiver, wait_until

ORDERS = 60
COPIES = 3
ORDER_FEN = 10_000
SEED = random.randrange(1 << 30)
pytestmark = pytest.mark.postgres


class _Keep(NotificationSender):
    def send(self, delivery: NotificationDelivery) -> NotificationDelivery:
        self.deliveries.append(delivery)
        return delivery


async def _orders(services: Services, n: int) -> tuple[str, list[Order]]:
    client_id = await create_client(services.db, "Reliability Lender")
    key_id, _ = await create_api_key(services.db, client_id, Role.CASE_SYSTEM)
    principal = Principal(client_id, key_id, Role.CASE_SYSTEM)
    orders = []
    now = utcnow()
    for i in range(n):
        body = {
            "external_ref": f"REL-{i:04d}",
            "debtor": {"name": "测试人", "id_number": "11010519491231002X", "phone": "13912345678"},
            "debts": [{"debt_id": "d1", "due_date": "2026-01-31", "principal_fen": 50_000}],
        }
        result = await services.cases.upsert_case(principal, to_command(msgspec.convert(body, CaseIn)))
        orders.append(
            Order(
                id=new_id("ord"),
                client_id=client_id,
                case_id=result.view.id,
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
        )
    async with services.db.transaction() as session:
        session.add_all(orders)
    return client_id, orders


async def _notifications(cluster: Cluster, orders: list[Order], base: str) -> list[httpx.Request]:
    options = SandboxOptions(data_dir=cluster.data_dir / "sandbox", public_base_url=base)
    _, sandbox = build_sandbox(options, lambda: httpx.AsyncClient())
    sandbox.sender = _Keep(lambda: httpx.AsyncClient(), options.time_factor)
    for order in orders:
        sandbox.orders[order.out_trade_no] = SandboxOrder(
            out_trade_no=order.out_trade_no,
            appid=sandbox.appid,
            mchid=sandbox.mchid,
            description="还款",
            notify_url=f"{base}/notify/wechatpay",
            total=ORDER_FEN,
            currency="CNY",
            trade_type="NATIVE",
            token=random_token(),
            created_at=datetime.now(UTC),
            time_expire=None,
            fingerprint=(),
        )
        await sandbox.pay(order.out_trade_no, "pay")
    return [d.build() for d in sandbox.sender.deliveries]


async def test_a_notification_storm_over_two_web_processes_and_two_workers_loses_and_doubles_nothing(
    cluster: Cluster, cluster_services: Services, receiver: Receiver
):
    print(f"seed {SEED}")
    rng = random.Random(SEED)
    web_a = cluster.start_web("web-a")
    web_b = cluster.start_web("web-b")
    cluster.start_worker("worker-1")
    cluster.start_worker("worker-2")
    client_id, orders = await _orders(cluster_services, ORDERS)
    _, admin_key = await create_api_key(cluster_services.db, client_id, Role.ADMIN)
    async with httpx.AsyncClient(timeout=15) as http:
        made = await http.post(
            f"{web_a}/v1/webhook-endpoints",
            json={"url": receiver.url, "description": "reliability"},
            headers={"Authorization": f"Bearer {admin_key}"},
        )
        assert made.status_code == 201, made.text
        secret = made.json()["secret"]
        requests = await _notifications(cluster, orders, web_a)
        sends = [(r, base) for r in requests for base in rng.sample([web_a, web_b, web_a], COPIES)]
        rng.shuffle(sends)
        answers: Counter[int] = Counter()
        gate = asyncio.Semaphore(12)

        async def send(request: httpx.Request, base: str) -> None:
            async with gate:
                r = await http.post(
                    f"{base}/notify/wechatpay", content=request.content, headers=request.headers
                )
                answers[r.status_code] += 1

        half = len(sends) // 2
        await asyncio.gather(*(send(r, b) for r, b in sends[:half]))
        cluster.kill("worker-1")  # mid-storm: deliveries and sweeps it held are left half done
        cluster.start_worker("worker-3")
        await asyncio.gather(*(send(r, b) for r, b in sends[half:]))
    assert answers == Counter({204: len(sends)}), answers

    async def all_applied() -> bool | tuple[int, int]:
        async with cluster_services.db.sessions() as session:
            total = await session.scalar(
                select(func.count()).select_from(Payment).where(Payment.client_id == client_id)
            )
            matched = await session.scalar(
                select(func.count())
                .select_from(Payment)
                .where(Payment.client_id == client_id, Payment.status == "matched")
            )
        return True if matched == ORDERS else (int(total or 0), int(matched or 0))

    # The applier in each web process applies at once; the workers' minute sweep is the safety net.
    await wait_until(all_applied, 90, "every payment applied")

    async def all_delivered() -> bool | dict[str, object]:
        async with cluster_services.db.sessions() as session:
            rows = await session.execute(
                select(WebhookMessage.status, func.count())
                .where(WebhookMessage.client_id == client_id)
                .group_by(WebhookMessage.status)
            )
            by_status: dict[str, object] = {s: int(n) for s, n in rows}
            failures = await session.execute(
                select(WebhookDelivery.error, func.count())
                .where(WebhookDelivery.client_id == client_id, WebhookDelivery.outcome != "delivered")
                .group_by(WebhookDelivery.error)
            )
            by_status["failed attempts"] = {e[:80]: int(n) for e, n in failures}
        done = set(by_status) - {"failed attempts"} == {"delivered"}
        return True if done else by_status

    # A killed worker's claimed messages are leased for the request timeout plus a margin (45 s)
    # before another dispatcher takes them; the bound leaves room for that and one retry.
    await wait_until(all_delivered, 150, "every webhook delivered")

    async with cluster_services.db.sessions() as session:
        per_order = Counter(
            await session.scalars(select(Payment.out_trade_no).where(Payment.client_id == client_id))
        )
        allocated = dict(
            (
                await session.execute(
                    select(AllocationRow.payment_id, func.sum(AllocationRow.amount_fen))
                    .join(Payment, Payment.id == AllocationRow.payment_id)
                    .where(Payment.client_id == client_id)
                    .group_by(AllocationRow.payment_id)
                )
            ).all()
        )
        ledger = await find_violations(session)
    assert sorted(per_order) == sorted(o.out_trade_no for o in orders) and set(per_order.values()) == {1}
    assert len(allocated) == ORDERS and set(allocated.values()) == {ORDER_FEN}
    assert [v for v in ledger.violations if v.client_id == client_id] == []

    verifier = Webhook(secret)
    received: dict[str, dict] = {}
    for headers, body in receiver.deliveries:
        verifier.verify(body, headers)  # raises on a bad signature
        msg_id = headers["webhook-id"]
        assert received.setdefault(msg_id, body) == body  # a repeat is the same message, byte for byte
    events = Counter(json.loads(b)["type"] for b in received.values())
    assert events["payment.received"] == ORDERS and events["payment.matched"] == ORDERS
