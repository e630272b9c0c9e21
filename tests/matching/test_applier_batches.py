"""The applier takes waiting referenced payments a batch at a time; one payment the case cannot take as
things stand sends the batch through one payment at a time, so the others are still applied and that
one is held for review."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from payments.domain.links import PolicyKind
from payments.domain.money import Money
from payments.persistence.db import utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Case, Order, Payment
from payments.services.access import Principal, Role, create_api_key
from payments.services.container import Services
from payments.services.links import AmountPolicyIn, LinkIn
from payments.services.orders import new_out_trade_no
from payments.services.recording import record_order_payment
from providers.base import BEIJING
from tests.conftest import Tenant
from tests.matching.conftest import allocations_by_case, make_case, review_item


async def _paid_order(
    services: Services, tenant: Tenant, case_id: str, fen: int, link_id: str | None = None
) -> str:
    now = utcnow()
    async with services.db.transaction() as session:
        order = Order(
            id=new_id("ord"), client_id=tenant.client_id, case_id=case_id, link_id=link_id, provider="wechatpay",
            out_trade_no=new_out_trade_no(), amount_fen=fen, currency="CNY", status="pending",
            provider_txn_id=None, created_at=now, expires_at=now + timedelta(hours=1), paid_at=None,
        )  # fmt: skip
        session.add(order)
        await session.flush()
        payment_id = await record_order_payment(
            session, order=order, provider="wechatpay", provider_txn_id=new_id("tx")[-28:],
            amount=Money(fen), received_at=now, source="notification",
        )  # fmt: skip
    assert payment_id is not None
    return payment_id


async def test_a_payment_the_case_cannot_take_is_held_and_the_rest_of_its_batch_applied(
    client, services: Services, tenant: Tenant
):
    open_case = await make_case(client, tenant, name="王小明", ref="HT2024-700001", principal="1000.00")
    held_case = await make_case(client, tenant, name="李四", ref="HT2024-700002", principal="1000.00")
    key_id, _ = await create_api_key(services.db, tenant.client_id, Role.CASE_SYSTEM)
    settle_by = (datetime.now(BEIJING) + timedelta(days=5)).date()
    offer = await services.links.issue_link(
        Principal(tenant.client_id, key_id, Role.CASE_SYSTEM),
        held_case,
        LinkIn(amount_policy=AmountPolicyIn(kind=PolicyKind.SETTLEMENT, amount="600.00", settle_by=settle_by)),
    )
    # On hold, a met settlement offer cannot settle the case: the transition is refused.
    async with services.db.transaction() as session:
        await session.execute(update(Case).where(Case.id == held_case).values(status="on_hold"))
    fine = await _paid_order(services, tenant, open_case, 40_000)
    refused = await _paid_order(services, tenant, held_case, 60_000, link_id=offer.id)

    await services.applier.sweep()

    async with services.db.sessions() as session:
        assert (await session.get_one(Payment, fine)).status == "matched"
        assert (await session.get_one(Payment, refused)).status == "review"
    assert await allocations_by_case(services, fine) == {open_case: 40_000}
    assert await allocations_by_case(services, refused) == {}
    item = await review_item(services, refused)
    assert item is not None and (item.reason, item.candidates[0]["case_ids"]) == ("case_refused", [held_case])
