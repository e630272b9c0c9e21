"""Refund notifications: stored in the refunds table against the payment, once however often they come."""

from __future__ import annotations

import secrets

import pytest

from payments.domain.money import Money
from providers.base import RefundRequest, Scene
from tests.integration.conftest import (
    ORDER_FEN,
    RAILS,
    assert_success_ack,
    deliver,
    drain,
    inbox_of,
    new_case,
    order_row,
    pay_at_provider,
    payments_of,
    refunds_of,
    start_order,
)

pytestmark = pytest.mark.parametrize("rail", RAILS)


async def _paid_then_refunded(client, services, tenant, rail, hold):
    """A paid order, then a full refund asked of the provider; returns the refund's notification unsent."""
    case_id = await new_case(client, tenant)
    # Alipay notifies refunds only for WAP (mobile) payments, not for face-to-face QR ones.
    order = await start_order(
        services, tenant, case_id, rail, scene=Scene.MOBILE if rail == "alipay" else Scene.QR
    )
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    await drain(services, rail)
    [payment] = await payments_of(services, order.out_trade_no)
    row = await order_row(services, order.out_trade_no)
    assert row is not None
    held = hold(rail)
    refund_no = "RF" + secrets.token_hex(8).upper()
    await services.rails.providers[rail].refund(
        RefundRequest(
            out_trade_no=order.out_trade_no,
            refund_no=refund_no,
            amount=Money(ORDER_FEN),
            order_total=Money(ORDER_FEN),
            reason="多付退款",
            provider_txn_id=payment.provider_txn_id,
            provider_ref=row.provider_ref,
        )
    )
    [notification] = held.deliveries
    return order, payment, refund_no, held, notification


async def test_refund_notification_is_stored_against_the_payment(client, services, tenant, rail, hold):
    order, payment, refund_no, held, notification = await _paid_then_refunded(
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
    order, _, _, held, notification = await _paid_then_refunded(client, services, tenant, rail, hold)

    first = await deliver(held, notification)
    again = await deliver(held, notification)

    assert_success_ack(rail, first)
    assert_success_ack(rail, again)
    assert len(await refunds_of(services, rail, order.out_trade_no)) == 1
    assert len([m for m in await inbox_of(services, rail, order.out_trade_no) if m.kind == "refund"]) == 1
    assert len(await payments_of(services, order.out_trade_no)) == 1  # a refund is never a payment
