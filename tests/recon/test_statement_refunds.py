"""Refund lines of a statement: recorded as refunds, against the refunds we know or as new ones."""

from __future__ import annotations

import pytest

from reconciliation.statements import check_statement
from tests.integration.conftest import (
    ORDER_FEN,
    RAILS,
    deliver,
    paid_then_refunded,
    payments_of,
    refunds_of,
)
from tests.recon.conftest import lines_for, stored_lines, today

pytestmark = pytest.mark.parametrize("rail", RAILS)


async def test_a_notified_refund_on_the_statement_is_matched_to_its_refund(
    client, services, tenant, rail, hold
):
    order, _, refund_no, held, notification = await paid_then_refunded(client, services, tenant, rail, hold)
    out_trade_no = order.out_trade_no
    await deliver(held, notification)

    report = await check_statement(services, rail, today())

    refunds = [ln for ln in lines_for(report, out_trade_no) if ln["kind"] == "refund"]
    assert [(ln["outcome"], ln["refund_no"], ln["amount_fen"]) for ln in refunds] == [
        ("refund", refund_no, -ORDER_FEN)
    ]
    assert len(await refunds_of(services, rail, out_trade_no)) == 1


async def test_a_refund_never_notified_is_recorded_from_the_statement(client, services, tenant, rail, hold):
    order, _, refund_no, _, _ = await paid_then_refunded(client, services, tenant, rail, hold)
    out_trade_no = order.out_trade_no
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
