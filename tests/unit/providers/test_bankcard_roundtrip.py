"""Every client operation, through the sandbox over httpx.MockTransport."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from payments.domain.money import Money
from providers.bankcard import sandbox_pki, transform
from providers.bankcard.client import BankCardProvider
from providers.base import (
    BEIJING,
    PayAction,
    Provider,
    ProviderError,
    RefundRequest,
    RefundStatus,
    Scene,
    TxnStatus,
)
from tests.unit.providers.test_bankcard_support import (  # noqa: F401 - fixtures are found by name
    NOTIFY_URL,
    RETURN_URL,
    Env,
    OtherChain,
    bankcard_data_dir_fixture,
    env_fixture,
    open_order,
    order_request,
    other_chain_fixture,
    submit_form,
)


def test_provider_satisfies_the_protocol(env: Env) -> None:
    assert isinstance(env.provider, Provider)
    assert (env.provider.name, env.provider.merchant_id) == ("bankcard", env.config.mer_id)


async def test_create_order_is_a_signed_consume_form(env: Env) -> None:
    request = order_request("ORDER20250001", 1234)
    action = await env.provider.create_order(request)
    fields = dict(action.fields)
    assert action.kind == "form"
    assert action.url == env.config.gateway_base + "/gateway/api/frontTransReq.do"
    assert {k: fields[k] for k in ("version", "signMethod", "txnType", "txnSubType", "bizType")} == {
        "version": "5.1.0", "signMethod": "01", "txnType": "01", "txnSubType": "01", "bizType": "000201",
    }  # fmt: skip
    assert (fields["accessType"], fields["currencyCode"], fields["channelType"]) == ("0", "156", "07")
    assert (fields["txnAmt"], fields["orderId"], fields["merId"]) == (
        "1234",
        "ORDER20250001",
        env.config.mer_id,
    )
    assert (fields["frontUrl"], fields["backUrl"]) == (RETURN_URL, NOTIFY_URL)
    assert fields["payTimeout"] == request.expires_at.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")
    assert transform.parse_txn_time(fields["txnTime"]) <= datetime.now(UTC)
    assert fields["riskRateInfo"] == "{commodityName=还款 Repayment}"
    assert fields["certId"].isdigit() and fields["signature"]


async def test_mobile_scene_uses_channel_type_08(env: Env) -> None:
    action = await env.provider.create_order(order_request(scene=Scene.MOBILE))
    assert action.fields["channelType"] == "08"


async def test_subject_characters_that_break_the_response_grammar_are_dropped(env: Env) -> None:
    action = await env.provider.create_order(order_request(subject="a&b={c}[d]\"e'"))
    assert action.fields["riskRateInfo"] == "{commodityName=abcde}"


async def test_create_order_refuses_an_order_id_unionpay_refuses(env: Env) -> None:
    with pytest.raises(ValueError, match="out_trade_no"):
        await env.provider.create_order(order_request("ORDER_2025-01"))


async def test_query_of_an_order_whose_card_page_was_not_submitted_is_pending(env: Env) -> None:
    await open_order(env)
    state = await env.provider.query_order("ORDER20250001")
    assert state.status is TxnStatus.PENDING


async def test_query_after_payment_is_success_with_query_id_and_amount(env: Env) -> None:
    await open_order(env, fen=1234)
    await env.sandbox.pay("ORDER20250001")
    state = await env.provider.query_order("ORDER20250001")
    payment = env.sandbox.orders["ORDER20250001"].payments[0]
    assert (state.status, state.provider_txn_id, state.amount) == (
        TxnStatus.SUCCESS, payment.query_id, Money(1234),
    )  # fmt: skip


async def test_query_after_a_failed_attempt_is_failed(env: Env) -> None:
    await open_order(env)
    await env.sandbox.pay("ORDER20250001", outcome="fail")
    assert (await env.provider.query_order("ORDER20250001")).status is TxnStatus.FAILED


async def test_query_after_pay_timeout_without_payment_is_closed(env: Env) -> None:
    clock = [datetime.now(UTC)]
    provider = BankCardProvider(
        env.config, httpx.AsyncClient(transport=env.sandbox.transport()), clock=lambda: clock[0]
    )
    await submit_form(env, await provider.create_order(order_request(expires_in=timedelta(minutes=15))))
    clock[0] += timedelta(minutes=16)
    assert (await provider.query_order("ORDER20250001")).status is TxnStatus.CLOSED


async def test_query_needs_the_original_txn_time(env: Env) -> None:
    with pytest.raises(ProviderError) as caught:
        await env.provider.query_order("ORDER20259999")
    assert caught.value.code == "TXN_TIME_UNKNOWN"


async def test_query_from_a_restarted_client_works_with_the_txn_time_passed_in(env: Env) -> None:
    action = await open_order(env)
    await env.sandbox.pay("ORDER20250001")
    restarted = env.client_with()
    txn_time = transform.parse_txn_time(action.fields["txnTime"])
    state = await restarted.query_order("ORDER20250001", txn_time=txn_time)
    assert state.status is TxnStatus.SUCCESS


async def test_query_of_an_order_unknown_to_unionpay_is_not_found(env: Env) -> None:
    state = await env.provider.query_order("ORDER20259999", txn_time=datetime.now(UTC))
    assert state.status is TxnStatus.NOT_FOUND


async def test_close_of_an_unpaid_order_is_a_no_op(env: Env) -> None:
    await open_order(env)
    await env.provider.close_order("ORDER20250001")
    assert env.sandbox.orders["ORDER20250001"].status == "created"


async def test_close_of_a_paid_order_is_refused(env: Env) -> None:
    await open_order(env)
    await env.sandbox.pay("ORDER20250001", outcome="silent")
    with pytest.raises(ProviderError) as caught:
        await env.provider.close_order("ORDER20250001")
    assert caught.value.code == "ORDER_PAID"


async def test_refund_is_accepted_then_succeeds_by_query_and_notification(env: Env) -> None:
    await open_order(env, fen=1234)
    await env.sandbox.pay("ORDER20250001", outcome="silent")
    state = await env.provider.refund(
        RefundRequest("ORDER20250001", "REFUND20250001", Money(234), Money(1234))
    )
    assert (state.status, state.amount) == (RefundStatus.PROCESSING, Money(234))
    queried = await env.provider.query_refund("ORDER20250001", "REFUND20250001")
    assert (queried.status, queried.amount, queried.provider_refund_id) == (
        RefundStatus.SUCCESS, Money(234), state.provider_refund_id,
    )  # fmt: skip
    await env.sandbox.sender.drain()
    (request,) = env.recorder.requests
    assert str(request.url) == env.config.refund_notify_url
    event = env.provider.parse_notification({}, request.content, datetime.now(UTC))
    assert (event.kind, event.refund_no, event.out_trade_no) == ("refund", "REFUND20250001", "ORDER20250001")
    assert event.fields["origQryId"] == env.sandbox.orders["ORDER20250001"].payments[0].query_id


async def test_refund_repeated_with_the_same_refund_no_moves_money_once(env: Env) -> None:
    await open_order(env, fen=1234)
    await env.sandbox.pay("ORDER20250001", outcome="silent")
    request = RefundRequest("ORDER20250001", "REFUND20250001", Money(234), Money(1234))
    first = await env.provider.refund(request)
    second = await env.provider.refund(request)
    assert first.provider_refund_id == second.provider_refund_id
    assert len(env.sandbox.refunds) == 1
    await env.sandbox.sender.drain()
    assert len(env.recorder.requests) == 1


async def test_refund_above_what_is_left_is_refused(env: Env) -> None:
    await open_order(env, fen=1000)
    await env.sandbox.pay("ORDER20250001", outcome="silent")
    await env.provider.refund(RefundRequest("ORDER20250001", "REFUND20250001", Money(600), Money(1000)))
    with pytest.raises(ProviderError) as caught:
        await env.provider.refund(RefundRequest("ORDER20250001", "REFUND20250002", Money(600), Money(1000)))
    assert not caught.value.retryable


async def test_refund_of_an_unpaid_order_is_refused(env: Env) -> None:
    await open_order(env)
    with pytest.raises(ProviderError) as caught:
        await env.provider.refund(RefundRequest("ORDER20250001", "REFUND20250001", Money(1), Money(1234)))
    assert caught.value.code == "ORDER_NOT_PAID"


async def test_refund_of_the_second_of_two_payments_by_its_query_id(env: Env) -> None:
    await open_order(env, fen=500)
    await env.sandbox.pay("ORDER20250001", outcome="twice")
    second = env.sandbox.orders["ORDER20250001"].payments[1]
    request = RefundRequest("ORDER20250001", "REFUND20250001", Money(500), Money(500))
    await env.provider.refund(request, orig_qry_id=second.query_id)
    assert env.sandbox.refunds["REFUND20250001"].orig_qry_id == second.query_id


async def test_fetch_statement_returns_the_zip_and_parses(env: Env) -> None:
    await open_order(env, "ORDER20250001", 1234)
    await env.sandbox.pay("ORDER20250001", outcome="silent")
    await env.provider.refund(RefundRequest("ORDER20250001", "REFUND20250001", Money(34), Money(1234)))
    data = await env.provider.fetch_statement(datetime.now(BEIJING).date())
    assert data.startswith(b"PK")
    lines = env.provider.parse_statement(data)
    assert [(line.kind, line.out_trade_no, line.amount.fen, line.refund_no) for line in lines] == [
        ("payment", "ORDER20250001", 1234, ""),
        ("refund", "ORDER20250001", -34, "REFUND20250001"),
    ]


async def test_fetch_statement_of_a_day_without_a_file_is_a_retryable_98(env: Env) -> None:
    with pytest.raises(ProviderError) as caught:
        await env.provider.fetch_statement(date.today() - timedelta(days=3))
    assert (caught.value.code, caught.value.retryable) == ("98", True)


async def test_a_response_signed_under_an_untrusted_chain_is_refused(
    env: Env, other_chain: OtherChain
) -> None:
    chain, _ = other_chain
    distrusting = env.client_with(
        root_cert_pem=sandbox_pki.cert_pem(chain.root), middle_cert_pem=sandbox_pki.cert_pem(chain.middle)
    )
    with pytest.raises(ProviderError) as caught:
        await distrusting.query_order("ORDER20259999", txn_time=datetime.now(UTC))
    assert caught.value.code == "BAD_RESPONSE_SIGNATURE"


async def test_unreachable_gateway_is_a_retryable_error(env: Env) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    provider = BankCardProvider(env.config, httpx.AsyncClient(transport=httpx.MockTransport(refuse)))
    with pytest.raises(ProviderError) as caught:
        await provider.fetch_statement(date.today())
    assert (caught.value.code, caught.value.retryable) == ("UNREACHABLE", True)


async def test_submit_form_lands_on_the_cashier(env: Env) -> None:
    action: PayAction = await env.provider.create_order(order_request())
    response = await submit_form(env, action)
    assert response.headers["location"].endswith("/sandbox/bankcard/cashier/ORDER20250001")
