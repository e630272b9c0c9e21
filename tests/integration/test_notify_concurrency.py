"""Exactly once under concurrency: many copies of one notification at the same moment (PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.conftest import (
    RAILS,
    allocations_of,
    assert_success_ack,
    deliver,
    inbox_of,
    new_case,
    order_row,
    pay_at_provider,
    payments_of,
    start_order,
)

COPIES = 20
ROUNDS = 5


async def test_twenty_copies_at_once_give_one_payment_and_twenty_success_acks(
    client, services, tenant, hold, is_postgres
):
    if not is_postgres:
        pytest.skip("needs PostgreSQL: SQLite runs one writer on one connection, so copies cannot race there")
    held = hold("wechatpay")
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, "wechatpay")
    await pay_at_provider(services, "wechatpay", order.out_trade_no, "pay")
    request = held.deliveries[0].build()

    responses = await asyncio.gather(
        *(
            client.post("/notify/wechatpay", content=request.content, headers=dict(request.headers))
            for _ in range(COPIES)
        )
    )

    for resp in responses:
        assert_success_ack("wechatpay", resp)
    [payment] = await payments_of(services, order.out_trade_no)
    assert len(await inbox_of(services, "wechatpay", order.out_trade_no)) == 1
    assert len(await allocations_of(services, payment.id)) == 3


@pytest.mark.parametrize("rail", RAILS)
async def test_two_payments_of_one_order_arriving_together_leave_the_first_on_the_order(
    client, services, tenant, hold, rail
):
    """The order keeps the transaction recorded first; the second payment must not overwrite it.

    Several rounds, because a race shows only sometimes (without the order lock it did 9 times in 10).
    """
    held = hold(rail)
    for _ in range(ROUNDS):
        case_id = await new_case(client, tenant)
        order = await start_order(services, tenant, case_id, rail)
        await pay_at_provider(services, rail, order.out_trade_no, "twice")
        first_copy, second_copy = held.deliveries[-2:]

        for resp in await asyncio.gather(deliver(held, first_copy), deliver(held, second_copy)):
            assert_success_ack(rail, resp)

        payments = await payments_of(services, order.out_trade_no)
        assert len(payments) == 2
        first = min(payments, key=lambda p: p.created_at)
        row = await order_row(services, order.out_trade_no)
        assert row is not None and row.status == "paid"
        assert row.provider_txn_id == first.provider_txn_id
