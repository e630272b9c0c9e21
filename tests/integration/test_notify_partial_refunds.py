"""Two partial refunds of one Alipay payment, learned from Alipay's notifications: each refund row holds
its own amount although Alipay's refund_fee is the running total; and each takes its share back from
the case."""

from __future__ import annotations

import secrets

from payments.domain.money import Money
from providers.base import RefundRequest, Scene
from tests.integration.conftest import (
    ORDER_FEN,
    case_view,
    deliver,
    drain,
    new_case,
    order_row,
    pay_at_provider,
    payments_of,
    refunds_of,
    start_order,
)


async def _refund_at_alipay(services, order, payment, fen: int) -> str:
    row = await order_row(services, order.out_trade_no)
    assert row is not None
    refund_no = "RF" + secrets.token_hex(8).upper()
    await services.rails.providers["alipay"].refund(
        RefundRequest(
            out_trade_no=order.out_trade_no,
            refund_no=refund_no,
            amount=Money(fen),
            order_total=Money(ORDER_FEN),
            reason="部分退款",
            provider_txn_id=payment.provider_txn_id,
            provider_ref=row.provider_ref,
        )
    )
    return refund_no


async def test_each_partial_refund_records_its_own_amount_not_alipays_running_total(client, services, tenant, hold):
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, "alipay", scene=Scene.MOBILE)
    await pay_at_provider(services, "alipay", order.out_trade_no, "pay")
    await drain(services, "alipay")
    [payment] = await payments_of(services, order.out_trade_no)
    owed_after_payment = (await case_view(client, tenant, case_id))["balance"]["total_fen"]
    held = hold("alipay")

    first = await _refund_at_alipay(services, order, payment, 3_000)
    await deliver(held, held.deliveries[-1])
    second = await _refund_at_alipay(services, order, payment, 2_000)
    await deliver(held, held.deliveries[-1])

    amounts = {r.refund_no: r.amount_fen for r in await refunds_of(services, "alipay", order.out_trade_no)}
    assert amounts == {first: 3_000, second: 2_000}
    view = await case_view(client, tenant, case_id)
    assert view["balance"]["total_fen"] == owed_after_payment + 5_000  # both refunds owed again
    [after] = await payments_of(services, order.out_trade_no)
    assert after.status == "matched"  # partly refunded: still applied for the rest
