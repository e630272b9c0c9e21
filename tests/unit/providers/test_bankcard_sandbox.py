"""The sandbox as UnionPay: hosted card page, outcomes, request checks, retries, key persistence."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from payments.domain.money import Money
from providers.bankcard import crypto, wire
from providers.bankcard.client import BankCardProvider
from providers.bankcard.config import UNIONPAY_CN_ORG
from providers.bankcard.sandbox import NOTIFY_SCHEDULE, SANDBOX_MER_ID, build_sandbox
from providers.bankcard.sandbox_book import SandboxError
from providers.base import ExpectedOrder, NotificationRejected, RejectReason, TxnStatus
from providers.simulator import SandboxOptions
from tests.unit.providers.test_bankcard_support import (  # noqa: F401 - fixtures are found by name
    BASE_URL,
    RETURN_URL,
    Env,
    NotifyRecorder,
    bankcard_data_dir_fixture,
    env_fixture,
    fresh_sandbox,
    open_order,
    order_request,
    submit_form,
)

CARD_NUMBER = "6216610000000018"


async def _cashier(env: Env, order_id: str = "ORDER20250001") -> httpx.Response:
    return await env.browser.get(f"{BASE_URL}/sandbox/bankcard/cashier/{order_id}")


async def _choose(env: Env, outcome: str, **extra: str) -> httpx.Response:
    data = {"cardNo": CARD_NUMBER, "expired": "1230", "cvn2": "123", "outcome": outcome, **extra}
    return await env.browser.post(f"{BASE_URL}/sandbox/bankcard/cashier/ORDER20250001", data=data)


# -- the hosted card page ------------------------------------------------------------------------


async def test_cashier_page_shows_merchant_amount_subject_and_all_outcomes(env: Env) -> None:
    await open_order(env, fen=1234)
    page = (await _cashier(env)).text
    for text in ("12.34", env.config.mer_id, "还款 Repayment", "ORDER20250001", 'name="cardNo"', "viewport"):
        assert text in page
    for outcome in ("pay", "fail", "amount", "twice", "silent"):
        assert f'value="{outcome}"' in page
    assert "<script" not in page and "<link" not in page and "src=" not in page


async def test_cashier_page_escapes_the_subject(env: Env) -> None:
    await submit_form(env, await env.provider.create_order(order_request(subject="<b>x</b>")))
    page = (await _cashier(env)).text
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


async def test_chosen_outcome_redirects_to_the_return_url(env: Env) -> None:
    await open_order(env)
    response = await _choose(env, "pay")
    assert (response.status_code, response.headers["location"]) == (303, RETURN_URL)


async def test_card_data_typed_on_the_page_never_reaches_the_merchant(env: Env) -> None:
    await open_order(env)
    await _choose(env, "pay")
    await env.sandbox.sender.drain()
    (request,) = env.recorder.requests
    assert CARD_NUMBER.encode() not in request.content and b"cvn2" not in request.content
    assert CARD_NUMBER not in repr(env.sandbox.orders)


async def test_a_tampered_consume_form_gets_resp_code_11(env: Env) -> None:
    action = await env.provider.create_order(order_request(fen=1234))
    fields = {**action.fields, "txnAmt": "1"}
    response = await env.browser.post(action.url, data=fields)
    assert response.status_code == 400 and "respCode=11" in response.text
    assert "ORDER20250001" not in env.sandbox.orders


async def test_reposting_the_same_form_shows_the_same_order(env: Env) -> None:
    action = await open_order(env)
    again = await submit_form(env, action)
    assert again.status_code == 303


async def test_a_second_order_with_the_same_order_id_is_a_duplicate(env: Env) -> None:
    await open_order(env, fen=1234)
    response = await submit_form(env, await env.provider.create_order(order_request(fen=999)))
    assert response.status_code == 400 and "respCode=12" in response.text


async def test_an_unknown_path_is_404(env: Env) -> None:
    assert (await env.browser.get(f"{BASE_URL}/sandbox/bankcard/nothing")).status_code == 404


# -- outcomes ------------------------------------------------------------------------------------


async def _events(env: Env) -> list:
    await env.sandbox.sender.drain()
    return [env.provider.parse_notification({}, r.content, datetime.now(UTC)) for r in env.recorder.requests]


async def test_fail_outcome_notifies_a_failed_payment(env: Env) -> None:
    await open_order(env)
    await env.sandbox.pay("ORDER20250001", outcome="fail")
    (event,) = await _events(env)
    assert event.status is TxnStatus.FAILED


async def test_different_amount_outcome_fails_the_integrity_check(env: Env) -> None:
    await open_order(env, fen=1234)
    await _choose(env, "amount", amount="10.01")
    (event,) = await _events(env)
    assert event.amount == Money(1001)
    with pytest.raises(NotificationRejected) as caught:
        env.provider.check_integrity(event, ExpectedOrder("ORDER20250001", Money(1234)))
    assert caught.value.reason is RejectReason.AMOUNT_MISMATCH


async def test_an_invalid_different_amount_is_refused_on_the_page(env: Env) -> None:
    await open_order(env)
    assert (await _choose(env, "amount", amount="1.234")).status_code == 400


async def test_twice_outcome_sends_two_payments_with_distinct_event_keys(env: Env) -> None:
    await open_order(env)
    await env.sandbox.pay("ORDER20250001", outcome="twice")
    first, second = await _events(env)
    assert first.status is second.status is TxnStatus.SUCCESS
    assert first.event_key != second.event_key and first.provider_txn_id != second.provider_txn_id


async def test_silent_outcome_pays_without_notifying(env: Env) -> None:
    await open_order(env)
    await env.sandbox.pay("ORDER20250001", outcome="silent")
    assert await _events(env) == []
    assert (await env.provider.query_order("ORDER20250001")).status is TxnStatus.SUCCESS


async def test_a_paid_order_cannot_be_paid_again(env: Env) -> None:
    await open_order(env)
    await env.sandbox.pay("ORDER20250001")
    with pytest.raises(SandboxError):
        await env.sandbox.pay("ORDER20250001")
    assert (await _choose(env, "pay")).status_code == 409


async def test_a_failed_attempt_can_be_retried(env: Env) -> None:
    await open_order(env)
    await env.sandbox.pay("ORDER20250001", outcome="fail")
    await env.sandbox.pay("ORDER20250001")
    assert env.sandbox.orders["ORDER20250001"].status == "paid"


# -- request checks on back transactions ---------------------------------------------------------


async def _post_signed(env: Env, path: str, fields: dict[str, str]) -> dict[str, str]:
    response = await env.browser.post(
        f"{BASE_URL}/sandbox/bankcard{path}",
        content=wire.encode_form(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return wire.parse_response_text(response.text)


def _query_fields(env: Env) -> dict[str, str]:
    key = crypto.load_rsa_private_key(env.config.signing_key_pem)
    certid = crypto.cert_id(crypto.load_certificate(env.config.signing_cert_pem))
    fields = {
        "version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "txnType": "00", "txnSubType": "00",
        "bizType": "000000", "accessType": "0", "merId": env.config.mer_id, "orderId": "ORDER20250001",
        "txnTime": "20250101120000",
    }  # fmt: skip
    return crypto.sign_fields(fields, key, certid)


async def test_a_query_with_a_tampered_field_gets_a_signed_resp_code_11(env: Env) -> None:
    answer = await _post_signed(
        env, "/gateway/api/queryTrans.do", {**_query_fields(env), "orderId": "ORDER2"}
    )
    assert answer["respCode"] == "11"
    verifier = crypto.UnionPayVerifier(env.config.root_cert_pem, env.config.middle_cert_pem, UNIONPAY_CN_ORG)
    verifier.verify(answer, datetime.now(UTC))  # the refusal is signed by "UnionPay" too


async def test_a_query_with_an_unknown_cert_id_gets_resp_code_11(env: Env) -> None:
    answer = await _post_signed(env, "/gateway/api/queryTrans.do", {**_query_fields(env), "certId": "1"})
    assert answer["respCode"] == "11"


async def test_a_query_with_the_wrong_txn_time_finds_nothing(env: Env) -> None:
    await open_order(env)
    await env.sandbox.pay("ORDER20250001")
    answer = await _post_signed(env, "/gateway/api/queryTrans.do", _query_fields(env))
    assert answer["respCode"] == "34"


# -- notification retries ------------------------------------------------------------------------


async def test_notification_is_retried_until_http_200(env: Env) -> None:
    env.recorder.statuses[:] = [500, 502, 404]
    await open_order(env)
    await env.sandbox.pay("ORDER20250001")
    await env.sandbox.sender.drain()
    (delivery,) = env.sandbox.sender.deliveries
    assert [status for _, status in delivery.attempts] == [500, 502, 404, 200]
    assert delivery.acknowledged
    assert len({r.content for r in env.recorder.requests}) == 1  # the same signed bytes each time


async def test_a_2xx_other_than_200_is_not_an_acknowledgement(env: Env) -> None:
    env.recorder.statuses[:] = [204]
    await open_order(env)
    await env.sandbox.pay("ORDER20250001")
    await env.sandbox.sender.drain()
    assert [status for _, status in env.sandbox.sender.deliveries[0].attempts] == [204, 200]


async def test_notification_gives_up_after_the_schedule(env: Env) -> None:
    env.recorder.statuses[:] = [500] * 20
    await open_order(env)
    await env.sandbox.pay("ORDER20250001")
    await env.sandbox.sender.drain()
    (delivery,) = env.sandbox.sender.deliveries
    assert len(delivery.attempts) == 1 + len(NOTIFY_SCHEDULE) and not delivery.acknowledged


async def test_retry_intervals_follow_the_schedule_divided_by_the_time_factor(
    bankcard_data_dir: Path,
) -> None:
    recorder = NotifyRecorder(statuses=[500, 500, 500])
    factor = 1200.0  # 60 s -> 50 ms, 120 s -> 100 ms, 240 s -> 200 ms
    config, sandbox = fresh_sandbox(bankcard_data_dir, recorder.factory, time_factor=factor)
    provider = BankCardProvider(config, httpx.AsyncClient(transport=sandbox.transport()))
    action = await provider.create_order(order_request())
    async with httpx.AsyncClient(transport=sandbox.transport()) as browser:
        await browser.post(action.url, data=dict(action.fields))
    await sandbox.pay("ORDER20250001")
    await asyncio.wait_for(sandbox.sender.drain(), timeout=5)
    times = [moment for moment, _ in sandbox.sender.deliveries[0].attempts]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    for gap, nominal in zip(gaps, NOTIFY_SCHEDULE, strict=False):
        assert nominal / factor * 0.8 <= gap < nominal / factor + 0.5
    await sandbox.aclose()


async def test_a_service_answering_with_the_providers_ack_is_notified_once(bankcard_data_dir: Path) -> None:
    holder: dict = {}

    async def service(request: httpx.Request) -> httpx.Response:
        provider = holder["provider"]
        try:
            provider.parse_notification(dict(request.headers), await request.aread(), datetime.now(UTC))
            ack = provider.ack_success()
        except NotificationRejected as exc:
            ack = provider.ack_failure(exc.reason)
        return httpx.Response(ack.status_code, content=ack.body)

    config, sandbox = fresh_sandbox(
        bankcard_data_dir, lambda: httpx.AsyncClient(transport=httpx.MockTransport(service))
    )
    holder["provider"] = provider = BankCardProvider(config, httpx.AsyncClient(transport=sandbox.transport()))
    action = await provider.create_order(order_request())
    async with httpx.AsyncClient(transport=sandbox.transport()) as browser:
        await browser.post(action.url, data=dict(action.fields))
    await sandbox.pay("ORDER20250001")
    await sandbox.sender.drain()
    assert [status for _, status in sandbox.sender.deliveries[0].attempts] == [200]
    await sandbox.aclose()


# -- keys and certificates -----------------------------------------------------------------------


def test_build_sandbox_keeps_its_keys_and_reissues_missing_certificates(tmp_path: Path) -> None:
    options = SandboxOptions(tmp_path, BASE_URL + "/")
    first, _ = build_sandbox(options, httpx.AsyncClient)
    again, _ = build_sandbox(options, httpx.AsyncClient)
    assert again == first
    (tmp_path / "bankcard" / "middle.crt.pem").unlink()
    reissued, _ = build_sandbox(options, httpx.AsyncClient)
    assert reissued.signing_key_pem == first.signing_key_pem
    assert reissued.root_cert_pem != first.root_cert_pem
    assert (first.mode, first.mer_id) == ("sandbox", SANDBOX_MER_ID)
    assert first.gateway_base == BASE_URL + "/sandbox/bankcard"
    assert first.file_url == BASE_URL + "/sandbox/bankcard/filedownload/"
    shutil.rmtree(tmp_path / "bankcard")
