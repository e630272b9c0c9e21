"""Refund lines of a statement: recorded as refunds, against the refunds we know or as new ones."""

from __future__ import annotations

import secrets

import pytest

from payments.domain.money import Money
from providers.base import RefundRequest, Scene
from reconciliation.statements import check_statement
from tests.integration.conftest import (
    ORDER_FEN,
    RAILS,
    deliver,
    drain,
    new_case,
    order_row,
    pay_at_provider,
    payments_of,
    refunds_of,
    start_order,
)
from tests.recon.conftest import lines_for, stored_lines, today

pytestmark = pytest.mark.parametrize("rail", RAILS)


async def _refunded(client, services, tenant, rail, hold):
    """A paid order refunded in full at the provider; (out_trade_no, refund_no, held sender, notification)."""
    case_id = await new_case(client, tenant)
    # Alipay notifies refunds only for WAP (mobile) payments.
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
    return order.out_trade_no, refund_no, held, notification


async def test_a_notified_refund_on_the_statement_is_matched_to_its_refund(client, services, tenant, rail, hold):
    out_trade_no, refund_no, held, notification = await _refunded(client, services, tenant, rail, hold)
    await deliver(held, notification)

    report = await check_statement(services, rail, today())

    refunds = [ln for ln in lines_for(report, out_trade_no) if ln["kind"] == "refund"]
    assert [(ln["outcome"], ln["refund_no"], ln["amount_fen"]) for ln in refunds] == [
        ("refund", refund_no, -ORDER_FEN)
    ]
    assert len(await refunds_of(services, rail, out_trade_no)) == 1


async def test_a_refund_never_notified_is_recorded_from_the_statement(client, services, tenant, rail, hold):
    out_trade_no, refund_no, _, _ = await _refunded(client, services, tenant, rail, hold)
    [payment] = await payments_of(services, out_trade_no)

    report = await check_statement(services, rail, today())

    refunds = [ln for ln in lines_for(report, out_trade_no) if ln["kind"] == "refund"]
    assert [ln["outcome"] for ln in refunds] == ["refund_recorded"]
    [refund] = await refunds_of(services, rail, out_trade_no)
    assert (refund.refund_no, refund.amount_fen, refund.status, refund.payment_id) == (
        refund_no,
        ORDER_FEN,
        "success",
        payment.id,
    )
    stored = [r for r in await stored_lines(services, rail, out_trade_no) if r.kind == "refund"]
    assert [r.payment_id for r in stored] == [payment.id]
