"""A notification that the payment failed: acknowledged and kept, but no money and no change to the case."""

from __future__ import annotations

import pytest

from providers.base import Scene
from tests.integration.conftest import (
    CASE_TOTAL_FEN,
    assert_success_ack,
    case_view,
    deliver,
    inbox_of,
    new_case,
    order_row,
    pay_at_provider,
    payments_of,
    start_order,
)


# WeChat Pay notifies successes only (a failure is seen by querying); Alipay notifies a closed
# trade for WAP payments, UnionPay a failed consume.
@pytest.mark.parametrize("rail", ["alipay", "bankcard"])
async def test_failed_payment_notification_records_no_payment(client, services, tenant, rail, hold):
    held = hold(rail)
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail, scene=Scene.MOBILE)
    await pay_at_provider(services, rail, order.out_trade_no, "fail")
    [delivery] = held.deliveries

    resp = await deliver(held, delivery)

    assert_success_ack(rail, resp)
    assert await payments_of(services, order.out_trade_no) == []
    [message] = await inbox_of(services, rail, order.out_trade_no)
    assert message.outcome == "state_only"
    row = await order_row(services, order.out_trade_no)
    assert row is not None and row.status in ("failed", "closed")
    assert (await case_view(client, tenant, case_id))["balance"]["total_fen"] == CASE_TOTAL_FEN
