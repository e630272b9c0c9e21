"""The WeChat Pay sandbox: outcomes, notification delivery on WeChat's schedule, the cashier page,
and its own checks of the merchant's requests."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from payments.domain.money import Money
from providers.base import BEIJING, RefundRequest, Scene
from providers.simulator import SandboxOptions
from providers.wechatpay import crypto
from providers.wechatpay.client import WechatPayProvider
from providers.wechatpay.sandbox import RETRY_SCHEDULE, SandboxError, WechatPaySandbox, cashier_url_for
from tests.unit.providers.test_wechatpay_rig import (
    BASE_URL,
    RETURN_URL,
    Rig,
    open_rig,
    order_request,
    rsa_key,
    wiring,
)

NO = "ORDER20240001"


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with open_rig(tmp_path) as r:
        yield r


async def _signed_call(
    rig: Rig, method: str, path: str, body: bytes = b"", *, key=None, timestamp: int | None = None
) -> httpx.Response:
    """A merchant request built by hand, to probe the sandbox's own signature checks."""
    request = httpx.Request(method, rig.config.gateway_url + path, content=body)
    stamp, nonce = str(timestamp or int(time.time())), crypto.new_nonce()
    message = crypto.request_message(method, request.url.raw_path.decode(), stamp, nonce, body)
    signature = crypto.sign(key or rsa_key("merchant"), message)
    request.headers["Authorization"] = crypto.authorization(
        rig.config.mchid, rig.config.merchant_serial_no, stamp, nonce, signature
    )
    return await rig.sandbox.handle(request)


# -- delivery and retries ------------------------------------------------------------------------


async def test_a_notification_answered_204_is_delivered_once(rig: Rig) -> None:
    await rig.paid()
    [delivery] = rig.sandbox.sender.deliveries
    assert delivery.acknowledged and len(rig.notifications) == 1


async def test_a_200_saying_fail_still_counts_as_received(rig: Rig) -> None:
    rig.answer = lambda request: httpx.Response(200, json={"code": "FAIL", "message": "失败"})
    await rig.paid()
    assert len(rig.notifications) == 1


async def test_an_unacknowledged_notification_is_tried_16_times_on_wechats_schedule(rig: Rig) -> None:
    rig.answer = lambda request: httpx.Response(500, json={"code": "FAIL", "message": "失败"})
    await rig.paid()
    [delivery] = rig.sandbox.sender.deliveries
    assert delivery.schedule == (
        15,
        15,
        30,
        180,
        600,
        1200,
        1800,
        1800,
        1800,
        3600,
        10800,
        10800,
        10800,
        21600,
        21600,
    )
    assert sum(delivery.schedule) == 24 * 3600 + 4 * 60
    assert len(rig.notifications) == 16 and not delivery.acknowledged


async def test_a_4xx_answer_is_retried_too(rig: Rig) -> None:
    statuses = iter([400, 404, 204])
    rig.answer = lambda request: httpx.Response(next(statuses))
    await rig.paid()
    assert len(rig.notifications) == 3


async def test_retries_wait_the_schedule_divided_by_the_time_factor(tmp_path: Path) -> None:
    statuses = iter([500, 500, 500, 500, 204])
    async with open_rig(tmp_path) as rig:
        rig.sandbox.sender._time_factor = 1000.0  # 15 s becomes 15 ms
        rig.answer = lambda request: httpx.Response(next(statuses))
        await rig.paid()
        times = [attempt for attempt, _ in rig.sandbox.sender.deliveries[0].attempts]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert len(gaps) == 4
    for gap, planned in zip(gaps, RETRY_SCHEDULE, strict=False):
        assert gap >= planned / 1000.0 * 0.9


async def test_every_retry_is_signed_afresh_over_the_same_body(rig: Rig) -> None:
    statuses = iter([500, 500, 204])
    rig.answer = lambda request: httpx.Response(next(statuses))
    await rig.paid()
    nonces = {request.headers["Wechatpay-Nonce"] for request in rig.notifications}
    assert len(nonces) == 3
    assert len({request.content for request in rig.notifications}) == 1
    for request in rig.notifications:
        assert rig.parse(request).kind == "payment"


# -- outcomes ------------------------------------------------------------------------------------


async def test_fail_sends_no_notification_as_wechat_notifies_successes_only(rig: Rig) -> None:
    await rig.order()
    assert await rig.sandbox.pay(NO, "fail") == []
    await rig.sandbox.sender.drain()
    assert rig.notifications == [] and rig.sandbox.orders[NO].trade_state == "PAYERROR"


async def test_pay_twice_sends_two_notifications_with_two_transaction_ids(rig: Rig) -> None:
    await rig.paid(outcome="twice")
    events = [rig.parse(request) for request in rig.notifications]
    assert len({event.provider_txn_id for event in events}) == 2
    assert len({event.event_key for event in events}) == 2


async def test_pay_without_notifying_sends_nothing_but_the_bill_lists_it(rig: Rig) -> None:
    await rig.paid(outcome="no_notify")
    assert rig.notifications == []
    bill = await rig.provider.fetch_statement(datetime.now(BEIJING).date())
    assert [line.out_trade_no for line in rig.provider.parse_statement(bill)] == [NO]


async def test_pay_a_different_amount_notifies_the_amount_paid(rig: Rig) -> None:
    await rig.order()
    await rig.sandbox.pay(NO, "different_amount", amount=100)
    await rig.sandbox.sender.drain()
    assert rig.parse(rig.notifications[0]).amount == Money(100)


async def test_a_paid_order_cannot_be_paid_again(rig: Rig) -> None:
    await rig.paid()
    with pytest.raises(SandboxError):
        await rig.sandbox.pay(NO)


async def test_an_expired_order_cannot_be_paid(rig: Rig) -> None:
    await rig.order()
    with pytest.raises(SandboxError):
        await rig.sandbox.pay(NO, at=datetime.now(UTC) + timedelta(days=1))


async def test_the_bill_holds_the_beijing_day_of_each_payment(rig: Rig) -> None:
    late = datetime(2024, 1, 16, 23, 59, 59, tzinfo=BEIJING)
    await rig.order("ORDER20240001")
    await rig.order("ORDER20240002")
    await rig.sandbox.pay("ORDER20240001", at=late)
    await rig.sandbox.pay("ORDER20240002", at=late + timedelta(seconds=2))
    bill = await rig.provider.fetch_statement(late.date())
    [line] = rig.provider.parse_statement(bill)
    assert (line.out_trade_no, line.occurred_at) == ("ORDER20240001", late)


async def test_the_bill_lists_payments_and_refunds_with_their_fees(rig: Rig) -> None:
    await rig.paid()
    await rig.provider.refund(RefundRequest(NO, "REFUND2024001", Money(2345), Money(12345)))
    lines = rig.provider.parse_statement(await rig.provider.fetch_statement(datetime.now(BEIJING).date()))
    assert [(line.kind, line.amount.fen, line.fee.fen) for line in lines] == [
        ("payment", 12345, 74),  # 0.74070 yuan at 0.60%
        ("refund", -2345, -14),  # -0.14070 yuan given back
    ]
    assert lines[1].refund_no == "REFUND2024001"


# -- the cashier ---------------------------------------------------------------------------------


async def _browser(rig: Rig, method: str, url: str, form: dict[str, str] | None = None) -> httpx.Response:
    if form is None:
        return await rig.sandbox.handle(httpx.Request(method, url))
    return await rig.sandbox.handle(httpx.Request(method, url, data=form))


async def test_cashier_url_for_turns_a_sandbox_code_url_into_its_cashier_page(rig: Rig) -> None:
    action = await rig.order()
    url = rig.sandbox.cashier_url_for(action.qr_payload, RETURN_URL)
    assert url is not None and url.startswith(f"{BASE_URL}/sandbox/wechatpay/cashier/")
    assert url == cashier_url_for(action.qr_payload, BASE_URL, RETURN_URL)
    assert cashier_url_for("weixin://wxpay/bizpayurl?pr=x", BASE_URL) is None


async def test_the_cashier_shows_merchant_amount_and_subject(rig: Rig) -> None:
    action = await rig.order()
    page = await _browser(rig, "GET", rig.sandbox.cashier_url_for(action.qr_payload) or "")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "¥123.45" in page.text and "还款 Repayment" in page.text and rig.config.mchid in page.text
    for outcome in ("pay", "fail", "twice", "no_notify", "different_amount"):
        assert f'value="{outcome}"' in page.text


async def test_the_cashier_escapes_the_subject(rig: Rig) -> None:
    action = await rig.provider.create_order(
        dataclasses.replace(order_request(), subject="<script>x</script>")
    )
    page = await _browser(rig, "GET", rig.sandbox.cashier_url_for(action.qr_payload) or "")
    assert "<script>x" not in page.text and "&lt;script&gt;" in page.text


async def test_paying_at_the_cashier_notifies_and_redirects_to_the_return_url(rig: Rig) -> None:
    action = await rig.order(scene=Scene.MOBILE)
    form_url = action.url.partition("?")[0]
    response = await _browser(rig, "POST", form_url, {"outcome": "pay", "redirect_url": RETURN_URL})
    await rig.sandbox.sender.drain()
    assert (response.status_code, response.headers["Location"]) == (303, RETURN_URL)
    assert rig.parse(rig.notifications[0]).out_trade_no == NO


async def test_the_h5_cashier_page_carries_the_return_url_into_its_forms(rig: Rig) -> None:
    action = await rig.order(scene=Scene.MOBILE)
    page = await _browser(rig, "GET", action.url)
    assert f'name="redirect_url" value="{RETURN_URL}"' in page.text


async def test_the_cashier_takes_a_different_amount_in_yuan(rig: Rig) -> None:
    action = await rig.order()
    url = rig.sandbox.cashier_url_for(action.qr_payload) or ""
    await _browser(rig, "POST", url, {"outcome": "different_amount", "amount": "1.5"})
    await rig.sandbox.sender.drain()
    assert rig.parse(rig.notifications[0]).amount == Money(150)


async def test_the_cashier_refuses_a_second_outcome(rig: Rig) -> None:
    action = await rig.order()
    url = rig.sandbox.cashier_url_for(action.qr_payload) or ""
    await _browser(rig, "POST", url, {"outcome": "pay"})
    again = await _browser(rig, "POST", url, {"outcome": "pay"})
    assert again.status_code == 400
    assert len(rig.sandbox.orders[NO].payments) == 1


async def test_the_cashier_never_redirects_to_a_script_url(rig: Rig) -> None:
    action = await rig.order()
    url = rig.sandbox.cashier_url_for(action.qr_payload) or ""
    response = await _browser(rig, "POST", url, {"outcome": "fail", "redirect_url": "javascript:alert(1)"})
    assert response.headers["Location"].startswith("/sandbox/wechatpay/cashier/")


async def test_an_unknown_cashier_token_is_404(rig: Rig) -> None:
    response = await _browser(rig, "GET", f"{BASE_URL}/sandbox/wechatpay/cashier/UnknownToken123")
    assert response.status_code == 404


# -- the sandbox checks the merchant like WeChat does --------------------------------------------


async def test_an_unsigned_request_gets_401_sign_error(rig: Rig) -> None:
    response = await rig.sandbox.handle(httpx.Request("GET", rig.config.gateway_url + "/v3/bill/tradebill"))
    assert (response.status_code, response.json()["code"]) == (401, "SIGN_ERROR")


async def test_a_request_signed_by_another_key_gets_401(rig: Rig) -> None:
    response = await _signed_call(
        rig,
        "GET",
        f"/v3/pay/transactions/out-trade-no/{NO}?mchid={rig.config.mchid}",
        key=rsa_key("intruder"),
    )
    assert response.status_code == 401


async def test_a_request_with_a_stale_timestamp_gets_401(rig: Rig) -> None:
    stale = int(time.time()) - 600
    response = await _signed_call(
        rig, "GET", f"/v3/pay/transactions/out-trade-no/{NO}?mchid={rig.config.mchid}", timestamp=stale
    )
    assert response.status_code == 401


async def test_a_correctly_signed_request_gets_a_signed_answer(rig: Rig) -> None:
    response = await _signed_call(
        rig, "GET", f"/v3/pay/transactions/out-trade-no/{NO}?mchid={rig.config.mchid}"
    )
    assert response.status_code == 404 and response.json()["code"] == "ORDER_NOT_EXIST"
    assert response.headers["Wechatpay-Serial"] == rig.sandbox.platform_key_id


async def test_h5_orders_without_scene_info_are_refused(rig: Rig) -> None:
    body = json.dumps({
        "appid": rig.config.appid, "mchid": rig.config.mchid, "description": "x", "out_trade_no": NO,
        "notify_url": "http://127.0.0.1:8000/notify/wechatpay", "amount": {"total": 1, "currency": "CNY"},
    }).encode()  # fmt: skip
    response = await _signed_call(rig, "POST", "/v3/pay/transactions/h5", body)
    assert (response.status_code, response.json()["code"]) == (400, "PARAM_ERROR")


async def test_paths_outside_the_sandbox_prefix_are_404(rig: Rig) -> None:
    response = await rig.sandbox.handle(httpx.Request("GET", f"{BASE_URL}/v3/pay/transactions/native"))
    assert response.status_code == 404


async def test_aclose_cancels_pending_retries(tmp_path: Path) -> None:
    config, keys, _ = wiring()
    options = SandboxOptions(data_dir=tmp_path, public_base_url=BASE_URL, time_factor=1.0)

    def down() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(503)))

    sandbox = WechatPaySandbox(options=options, notify_client_factory=down, **keys)
    async with httpx.AsyncClient(transport=sandbox.transport()) as http:
        await WechatPayProvider(config, http).create_order(order_request())
        await sandbox.pay(NO)
        await sandbox.aclose()
    delivery = sandbox.sender.deliveries[0]
    assert not delivery.acknowledged and len(delivery.attempts) <= 1
    await sandbox.sender.drain()  # returns at once: nothing is left running
