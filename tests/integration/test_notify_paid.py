"""A verified notification for one of our orders: one payment, applied to the order's case, acknowledged."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.integration.conftest import (
    CASE_TOTAL_FEN,
    FEES_FEN,
    INTEREST_FEN,
    ORDER_FEN,
    PRINCIPAL_FEN,
    RAILS,
    allocations_of,
    assert_ledger_holds,
    assert_success_ack,
    case_view,
    deliver,
    drain,
    exceptions_of,
    inbox_of,
    new_case,
    order_row,
    outbox_events,
    outbox_types,
    pay_at_provider,
    payments_of,
    start_order,
)

pytestmark = pytest.mark.parametrize("rail", RAILS)


async def test_paid_order_gives_one_matched_payment(client, services, tenant, rail):
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    await drain(services, rail)

    [payment] = await payments_of(services, order.out_trade_no)
    assert (payment.status, payment.source, payment.provider) == ("matched", "notification", rail)
    assert (payment.amount_fen, payment.unapplied_fen, payment.case_id) == (ORDER_FEN, 0, case_id)
    assert payment.order_id == order.order_id
    row = await order_row(services, order.out_trade_no)
    assert row is not None and row.status == "paid" and row.provider_txn_id == payment.provider_txn_id


async def test_paid_order_lowers_the_case_balance_fees_then_interest_then_principal(
    client, services, tenant, rail
):
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    await drain(services, rail)

    [payment] = await payments_of(services, order.out_trade_no)
    allocated = Counter()
    for line in await allocations_of(services, payment.id):
        assert line.case_id == case_id
        allocated[line.component] += line.amount_fen
    # 100.00 pays all the fees (20.00) and all the interest (50.00) before 30.00 of principal.
    assert allocated == {
        "fees": FEES_FEN,
        "interest": INTEREST_FEN,
        "principal": ORDER_FEN - FEES_FEN - INTEREST_FEN,
    }
    [matched] = await outbox_events(services, case_id, "payment.matched")
    assert [a["component"] for a in matched["allocations"]] == ["fees", "interest", "principal"]
    balance = (await case_view(client, tenant, case_id))["balance"]
    assert balance["total_fen"] == CASE_TOTAL_FEN - ORDER_FEN
    assert (balance["fees_fen"], balance["interest_fen"]) == (0, 0)
    assert balance["principal_fen"] == PRINCIPAL_FEN - (ORDER_FEN - FEES_FEN - INTEREST_FEN)
    await assert_ledger_holds(services, payment)


async def test_paid_order_stores_one_inbox_row(client, services, tenant, rail):
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    await drain(services, rail)

    [message] = await inbox_of(services, rail, order.out_trade_no)
    assert (message.kind, message.status, message.outcome) == ("payment", "success", "recorded")
    assert message.amount_fen == ORDER_FEN
    assert message.body  # the raw body as received, kept as evidence


async def test_paid_order_writes_received_matched_and_case_updated_events(client, services, tenant, rail):
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    await drain(services, rail)

    assert await outbox_types(services, case_id) == {
        "payment.received": 1,
        "payment.matched": 1,
        "case.updated": 1,
    }
    [payment] = await payments_of(services, order.out_trade_no)
    [received] = await outbox_events(services, case_id, "payment.received")
    assert (received["payment_id"], received["amount_fen"], received["provider"]) == (
        payment.id,
        ORDER_FEN,
        rail,
    )
    [updated] = await outbox_events(services, case_id, "case.updated")
    assert updated["balance"]["total_fen"] == CASE_TOTAL_FEN - ORDER_FEN


async def test_paid_order_is_acknowledged_the_providers_way(client, services, tenant, rail, hold):
    held = hold(rail)
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    [delivery] = held.deliveries

    assert_success_ack(rail, await deliver(held, delivery))


async def test_same_notification_twice_is_one_payment_and_two_success_acks(
    client, services, tenant, rail, hold
):
    held = hold(rail)
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    [delivery] = held.deliveries

    first = await deliver(held, delivery)
    again = await deliver(held, delivery)

    assert_success_ack(rail, first)
    assert_success_ack(rail, again)
    await services.applier.drain()  # applying follows the notification's commit, in the background
    [payment] = await payments_of(services, order.out_trade_no)
    assert len(await inbox_of(services, rail, order.out_trade_no)) == 1
    assert len(await allocations_of(services, payment.id)) == 3  # applied once, not twice
    assert (await case_view(client, tenant, case_id))["balance"]["total_fen"] == CASE_TOTAL_FEN - ORDER_FEN


async def test_stored_body_posted_again_is_a_duplicate(client, services, tenant, rail, hold):
    held = hold(rail)
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    [delivery] = held.deliveries
    request = delivery.build()
    assert_success_ack(rail, await deliver(held, delivery))
    [message] = await inbox_of(services, rail, order.out_trade_no)
    assert message.body == request.content  # stored byte for byte

    # The provider's retry: the stored body again. (WeChat signs each attempt afresh; same body.)
    again = delivery.build()
    resp = await client.post(f"/notify/{rail}", content=message.body, headers=dict(again.headers))

    assert_success_ack(rail, resp)
    assert len(await payments_of(services, order.out_trade_no)) == 1
    assert len(await inbox_of(services, rail, order.out_trade_no)) == 1


async def test_different_amount_is_an_exception_not_applied(client, services, tenant, rail, hold):
    held = hold(rail)
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    await pay_at_provider(services, rail, order.out_trade_no, "different_amount", amount_fen=ORDER_FEN - 1)
    [delivery] = held.deliveries

    resp = await deliver(held, delivery)

    assert_success_ack(rail, resp)  # acknowledged, so the provider stops; finance takes it from here
    [payment] = await payments_of(services, order.out_trade_no)
    assert (payment.status, payment.amount_fen, payment.case_id) == ("exception", ORDER_FEN - 1, None)
    assert payment.unapplied_fen == payment.amount_fen
    [problem] = await exceptions_of(services, payment.id)
    assert problem.kind == "amount_mismatch" and problem.resolved_at is None
    assert problem.details["order_amount_fen"] == ORDER_FEN
    assert problem.details["received_amount_fen"] == ORDER_FEN - 1
    assert await allocations_of(services, payment.id) == []
    assert (await case_view(client, tenant, case_id))["balance"]["total_fen"] == CASE_TOTAL_FEN
    [message] = await inbox_of(services, rail, order.out_trade_no)
    assert message.outcome == "exception"
    assert (await outbox_types(services, case_id)) == {"payment.received": 1}
    await assert_ledger_holds(services, payment)


async def test_paid_twice_gives_two_payments_the_second_a_credit(client, services, tenant, rail):
    case_id = await new_case(client, tenant)
    # The order pays the whole case, so the second payment finds nothing owed.
    order = await start_order(services, tenant, case_id, rail, amount_fen=CASE_TOTAL_FEN)
    await pay_at_provider(services, rail, order.out_trade_no, "twice")
    await drain(services, rail)

    payments = await payments_of(services, order.out_trade_no)
    assert len(payments) == 2
    assert len({p.provider_txn_id for p in payments}) == 2
    assert all(p.status == "matched" and p.amount_fen == CASE_TOTAL_FEN for p in payments)
    for payment in payments:
        await assert_ledger_holds(services, payment)
    assert sorted(p.unapplied_fen for p in payments) == [0, CASE_TOTAL_FEN]
    view: dict[str, Any] = await case_view(client, tenant, case_id)
    assert view["balance"]["total_fen"] == 0
    assert view["credit_fen"] == CASE_TOTAL_FEN
    assert view["status"] == "paid"
    assert len(await inbox_of(services, rail, order.out_trade_no)) == 2
