"""The daily statement check: each rail's statement against our payments and the notifications inbox."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import pytest

from payments.outbox.events import render
from payments.persistence.db import utcnow
from reconciliation.jobs import JOBS
from reconciliation.scheduler import INTERVALS
from reconciliation.statements import AMOUNT_MISMATCH, MISSING, check_statement
from tests.integration.conftest import (
    CASE_TOTAL_FEN,
    ORDER_FEN,
    RAILS,
    allocations_of,
    assert_ledger_holds,
    case_view,
    drain,
    exceptions_of,
    new_case,
    outbox_events,
    pay_at_provider,
    payments_of,
    start_order,
)
from tests.recon.conftest import (
    lines_for,
    order_state,
    record_directly,
    row_counts,
    stored_lines,
    today,
)


async def paid_order(client, services, tenant, rail: str, outcome: str = "pay") -> tuple[str, str]:
    """(case id, out_trade_no) of an order of a new case, paid at the provider with `outcome`."""
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    await pay_at_provider(services, rail, order.out_trade_no, outcome)
    await drain(services, rail)
    return case_id, order.out_trade_no


async def unlisted_payment(client, services, tenant, rail: str) -> str:
    """A payment recorded as notified whose transaction the provider never saw: the statement lacks it."""
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    return await record_directly(
        services,
        rail,
        order.out_trade_no,
        provider_txn_id="NEVERSEEN" + secrets.token_hex(8).upper(),
        amount_fen=ORDER_FEN,
        source="notification",
    )


@pytest.mark.parametrize("rail", RAILS)
async def test_a_paid_and_notified_payment_is_matched(client, services, tenant, rail):
    _, out_trade_no = await paid_order(client, services, tenant, rail)
    [payment] = await payments_of(services, out_trade_no)

    report = await check_statement(services, rail, today())

    assert [(ln["outcome"], ln["payment_id"]) for ln in lines_for(report, out_trade_no)] == [
        ("matched", payment.id)
    ]
    [row] = await stored_lines(services, rail, out_trade_no)
    assert (row.kind, row.amount_fen, row.payment_id, row.client_id) == (
        "payment",
        ORDER_FEN,
        payment.id,
        tenant.client_id,
    )
    assert await exceptions_of(services, payment.id) == []


@pytest.mark.parametrize("rail", RAILS)
async def test_a_payment_never_notified_is_recorded_from_the_statement_and_applied_to_its_case(
    client, services, tenant, rail
):
    case_id, out_trade_no = await paid_order(client, services, tenant, rail, "no_notify")
    assert await payments_of(services, out_trade_no) == []

    report = await check_statement(services, rail, today())

    [payment] = await payments_of(services, out_trade_no)
    assert (payment.source, payment.status, payment.case_id, payment.amount_fen) == (
        "statement",
        "matched",
        case_id,
        ORDER_FEN,
    )
    assert [ln["outcome"] for ln in lines_for(report, out_trade_no)] == ["recorded"]
    assert payment.id in report["recorded_payments"]
    assert sum(a.amount_fen for a in await allocations_of(services, payment.id)) == ORDER_FEN
    await assert_ledger_holds(services, payment)
    case = await case_view(client, tenant, case_id)
    assert case["status"] == "partially_paid"
    assert await order_state(services, out_trade_no) == ("paid", payment.provider_txn_id)


@pytest.mark.parametrize("rail", RAILS)
async def test_a_notified_payment_missing_from_the_statement_is_an_exception(client, services, tenant, rail):
    payment_id = await unlisted_payment(client, services, tenant, rail)

    report = await check_statement(services, rail, today())

    assert [e.kind for e in await exceptions_of(services, payment_id)] == [MISSING]
    assert report["exceptions"].get(MISSING, 0) >= 1


async def test_a_statement_exception_tells_the_case_system(client, services, tenant):
    rail = "bankcard"
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    payment_id = await record_directly(
        services,
        rail,
        order.out_trade_no,
        provider_txn_id="NEVERSEEN" + secrets.token_hex(8).upper(),
        amount_fen=ORDER_FEN,
        source="notification",
    )

    await check_statement(services, rail, today())

    [exception] = await exceptions_of(services, payment_id)
    [event] = await outbox_events(services, case_id, "reconciliation.exception")
    assert (event["exception_id"], event["kind"], event["payment_id"], event["amount_fen"]) == (
        exception.id,
        MISSING,
        payment_id,
        ORDER_FEN,
    )
    assert render("reconciliation.exception", "evt_x", utcnow(), event) is not None


async def test_a_missing_payment_is_flagged_once_however_often_the_day_is_checked(client, services, tenant):
    payment_id = await unlisted_payment(client, services, tenant, "alipay")

    await check_statement(services, "alipay", today())
    await check_statement(services, "alipay", today())

    assert [e.kind for e in await exceptions_of(services, payment_id)] == [MISSING]


async def test_a_missing_payment_listed_on_a_later_statement_is_resolved(client, services, tenant):
    rail = "alipay"
    _, out_trade_no = await paid_order(client, services, tenant, rail, "no_notify")
    state = await services.rails.providers[rail].query_order(out_trade_no)
    # Notified just before midnight yesterday, but the provider put it on today's statement.
    payment_id = await record_directly(
        services,
        rail,
        out_trade_no,
        provider_txn_id=state.provider_txn_id,
        amount_fen=ORDER_FEN,
        source="notification",
        received_at=utcnow() - timedelta(days=1),
    )
    await check_statement(services, rail, today() - timedelta(days=1))
    [flagged] = await exceptions_of(services, payment_id)
    assert (flagged.kind, flagged.resolved_at) == (MISSING, None)

    await check_statement(services, rail, today())

    [resolved] = await exceptions_of(services, payment_id)
    assert resolved.resolved_at is not None


async def test_a_payment_whose_amount_differs_from_the_statement_is_an_exception(client, services, tenant):
    rail = "wechatpay"
    _, out_trade_no = await paid_order(client, services, tenant, rail, "no_notify")
    # The provider's own transaction, recorded here (as an order query would) with another amount.
    state = await services.rails.providers[rail].query_order(out_trade_no)
    payment_id = await record_directly(
        services,
        rail,
        out_trade_no,
        provider_txn_id=state.provider_txn_id,
        amount_fen=ORDER_FEN - 1,
        source="query",
    )

    report = await check_statement(services, rail, today())

    assert [ln["outcome"] for ln in lines_for(report, out_trade_no)] == ["amount_mismatch"]
    kinds = sorted(e.kind for e in await exceptions_of(services, payment_id))
    assert AMOUNT_MISMATCH in kinds


async def test_checking_the_same_day_twice_changes_nothing_the_second_time(client, services, tenant):
    rail = "alipay"
    await paid_order(client, services, tenant, rail, "no_notify")
    await unlisted_payment(client, services, tenant, rail)
    first = await check_statement(services, rail, today())
    assert first["new_lines"] >= 1
    before = await row_counts(services)

    second = await check_statement(services, rail, today())

    assert await row_counts(services) == before
    assert (second["new_lines"], second["recorded_payments"], second["exceptions"]) == (0, [], {})
    assert second["outcomes"] == first["outcomes"]


async def test_two_concurrent_checks_of_a_day_end_as_one_check_would(client, services, tenant):
    rail = "wechatpay"
    _, out_trade_no = await paid_order(client, services, tenant, rail, "no_notify")
    missing_id = await unlisted_payment(client, services, tenant, rail)

    await asyncio.gather(
        check_statement(services, rail, today()), check_statement(services, rail, today())
    )

    [payment] = await payments_of(services, out_trade_no)
    assert payment.source == "statement"
    assert len(await allocations_of(services, payment.id)) == 3  # applied once
    assert [r.payment_id for r in await stored_lines(services, rail, out_trade_no)] == [payment.id]
    assert [e.kind for e in await exceptions_of(services, missing_id)] == [MISSING]


async def test_a_statement_line_points_at_one_payment_and_is_stored_once(client, services, tenant):
    rail = "bankcard"
    _, out_trade_no = await paid_order(client, services, tenant, rail)

    await check_statement(services, rail, today())
    await check_statement(services, rail, today())

    rows = await stored_lines(services, rail, out_trade_no)
    [payment] = await payments_of(services, out_trade_no)
    assert [(r.kind, r.payment_id) for r in rows] == [("payment", payment.id)]


async def test_a_dry_run_writes_nothing(client, services, tenant):
    rail = "wechatpay"
    _, out_trade_no = await paid_order(client, services, tenant, rail, "no_notify")
    await unlisted_payment(client, services, tenant, rail)
    before = await row_counts(services)

    report = await check_statement(services, rail, today(), dry_run=True)

    assert await row_counts(services) == before
    assert await payments_of(services, out_trade_no) == []
    # It still says what a real run would do.
    assert [ln["outcome"] for ln in lines_for(report, out_trade_no)] == ["recorded"]
    assert report["exceptions"].get(MISSING, 0) >= 1


async def test_the_report_gives_fee_and_net_per_line_and_for_the_day(client, services, tenant):
    rail = "wechatpay"
    _, out_trade_no = await paid_order(client, services, tenant, rail)

    report = await check_statement(services, rail, today())

    [line] = lines_for(report, out_trade_no)
    assert line["fee_fen"] > 0  # the sandbox charges WeChat's service fee
    assert line["net_fen"] == line["amount_fen"] - line["fee_fen"]
    assert report["fees_fen"] == sum(ln["fee_fen"] for ln in report["per_line"])
    assert report["net_fen"] == report["payments_fen"] + report["refunds_fen"] - report["fees_fen"]


async def test_the_check_statements_job_checks_every_rail_and_runs_on_the_scheduler(client, services, tenant):
    _, out_trade_no = await paid_order(client, services, tenant, "alipay", "no_notify")

    reports = await JOBS["check_statements"](services, today())  # type: ignore[call-arg]

    assert set(reports) == set(RAILS)
    [payment] = await payments_of(services, out_trade_no)
    assert payment.id in reports["alipay"]["recorded_payments"]
    assert INTERVALS["check_statements"] >= 3600


async def test_a_case_paid_in_full_from_the_statement_is_closed(client, services, tenant):
    rail = "alipay"
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail, amount_fen=CASE_TOTAL_FEN)
    await pay_at_provider(services, rail, order.out_trade_no, "no_notify")
    await drain(services, rail)

    await check_statement(services, rail, today())

    assert (await case_view(client, tenant, case_id))["status"] == "paid"
