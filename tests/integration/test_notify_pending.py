"""When no notification comes: the pending-orders job asks the provider, and a late notification is a duplicate."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments.services.pending_orders import settle_expired_orders
from tests.integration.conftest import (
    CASE_TOTAL_FEN,
    ORDER_FEN,
    RAILS,
    allocations_of,
    assert_ledger_holds,
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

pytestmark = pytest.mark.parametrize("rail", RAILS)

# Short-lived orders, so the job's "expired before now" takes in this test's order and not the
# 30-minute orders every other test leaves pending.
TTL = timedelta(seconds=90)


async def _run_job_after_expiry(services, out_trade_no: str):
    row = await order_row(services, out_trade_no)
    assert row is not None
    report = await settle_expired_orders(
        services.db, services.rails.providers, now=row.expires_at + timedelta(seconds=1)
    )
    await services.applier.sweep()  # what the job does next: apply what the query found
    return report


async def test_paid_without_notification_is_recorded_by_the_query_job(client, services, tenant, rail, hold):
    held = hold(rail)
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail, ttl=TTL)
    await pay_at_provider(services, rail, order.out_trade_no, "no_notify")
    assert held.deliveries == []  # the provider never notifies this payment

    report = await _run_job_after_expiry(services, order.out_trade_no)

    assert report.paid >= 1, report
    [payment] = await payments_of(services, order.out_trade_no)
    assert (payment.source, payment.status, payment.amount_fen) == ("query", "matched", ORDER_FEN)
    assert len(await allocations_of(services, payment.id)) == 3
    await assert_ledger_holds(services, payment)
    assert (await case_view(client, tenant, case_id))["balance"]["total_fen"] == CASE_TOTAL_FEN - ORDER_FEN
    row = await order_row(services, order.out_trade_no)
    assert row is not None and row.status == "paid"


async def test_late_notification_after_the_query_job_is_a_duplicate(client, services, tenant, rail, hold):
    held = hold(rail)  # the notification is made but arrives only after the job has run
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail, ttl=TTL)
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    [late] = held.deliveries
    await _run_job_after_expiry(services, order.out_trade_no)

    resp = await deliver(held, late)

    assert_success_ack(rail, resp)
    [payment] = await payments_of(services, order.out_trade_no)
    assert payment.source == "query"
    assert len(await allocations_of(services, payment.id)) == 3  # applied once
    assert (await case_view(client, tenant, case_id))["balance"]["total_fen"] == CASE_TOTAL_FEN - ORDER_FEN


async def test_late_notification_after_the_query_job_is_reported_as_a_duplicate(
    client, services, tenant, rail, hold
):
    held = hold(rail)
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail, ttl=TTL)
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    request = held.deliveries[0].build()
    await _run_job_after_expiry(services, order.out_trade_no)

    headers = {k.lower(): v for k, v in request.headers.items()}
    outcome = await services.notifications.receive(rail, headers, request.content)

    assert outcome.result == "duplicate"
    assert outcome.payment_id is None
    [message] = await inbox_of(services, rail, order.out_trade_no)  # the evidence is still kept
    assert (message.body, message.outcome) == (request.content, "duplicate")


async def test_unpaid_expired_order_is_closed(client, services, tenant, rail):
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail, ttl=TTL)

    report = await _run_job_after_expiry(services, order.out_trade_no)

    assert report.closed >= 1, report
    row = await order_row(services, order.out_trade_no)
    assert row is not None and row.status == "closed"
    assert await payments_of(services, order.out_trade_no) == []
