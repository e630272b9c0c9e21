"""Refund notifications: stored in the refunds table against the payment, once however often they come."""

from __future__ import annotations

import pytest

from tests.integration.conftest import (
    ORDER_FEN,
    RAILS,
    assert_success_ack,
    deliver,
    inbox_of,
    paid_then_refunded,
    payments_of,
    refunds_of,
)

pytestmark = pytest.mark.parametrize("rail", RAILS)


async def test_refund_notification_is_stored_against_the_payment(client, services, tenant, rail, hold):
    order, payment, refund_no, held, notification = await paid_then_refunded(
        client, services, tenant, rail, hold
    )

    resp = await deliver(held, notification)

    assert_success_ack(rail, resp)
    [refund] = await refunds_of(services, rail, order.out_trade_no)
    assert (refund.refund_no, refund.amount_fen, refund.status) == (refund_no, ORDER_FEN, "success")
    assert refund.payment_id == payment.id
    refund_inbox = [m for m in await inbox_of(services, rail, order.out_trade_no) if m.kind == "refund"]
    assert [m.outcome for m in refund_inbox] == ["state_only"]


async def test_refund_notification_twice_is_one_refund(client, services, tenant, rail, hold):
    order, _, _, held, notification = await paid_then_refunded(client, services, tenant, rail, hold)

    first = await deliver(held, notification)
    again = await deliver(held, notification)

    assert_success_ack(rail, first)
    assert_success_ack(rail, again)
    assert len(await refunds_of(services, rail, order.out_trade_no)) == 1
    assert len([m for m in await inbox_of(services, rail, order.out_trade_no) if m.kind == "refund"]) == 1
    assert len(await payments_of(services, order.out_trade_no)) == 1  # a refund is never a payment
