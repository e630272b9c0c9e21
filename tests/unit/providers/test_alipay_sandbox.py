"""The Alipay sandbox as a provider: cashier page, outcomes, notification retries, gateway checks."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from payments.domain.money import Money
from providers.alipay import crypto, wire
from providers.alipay.client import AlipayProvider
from providers.alipay.sandbox import build_sandbox
from providers.base import BEIJING, Scene, TxnStatus
from providers.simulator import SandboxOptions
from tests.unit.providers.test_alipay_kit import (
    BASE_URL,
    RETURN_URL,
    always,
    form,
    make_kit,
    merchant_key,
    platform_key,
)


@pytest.fixture
async def kit():
    kit = make_kit()
    yield kit
    await kit.aclose()


async def _qr_order(kit, **kwargs) -> str:
    action = await kit.provider.create_order(kit.order(**kwargs))
    return action.qr_payload


async def _press(kit, page_url: str, outcome: str, **extra: str) -> httpx.Response:
    code = page_url.rsplit("/", 1)[1]
    return await kit.http.post(
        f"{BASE_URL}/sandbox/alipay/cashier/{code}",
        content=urlencode({"outcome": outcome, **extra}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


# ---- wiring ---------------------------------------------------------------------------------------


async def test_build_sandbox_returns_a_sandbox_mode_config_pointing_at_it(tmp_path):
    config, sandbox = build_sandbox(
        SandboxOptions(tmp_path, "http://demo.local:9000/"), lambda: httpx.AsyncClient()
    )
    assert config.mode == "sandbox"
    assert config.gateway_url == "http://demo.local:9000/sandbox/alipay/gateway.do"
    assert config.alipay_public_key_pem == sandbox.platform_public_pem
    assert sandbox.name == "alipay"
    assert (tmp_path / "alipay" / "alipay_platform_key.pem").exists()
    assert (tmp_path / "alipay" / "merchant_app_key.pem").exists()
    provider = AlipayProvider(config, httpx.AsyncClient(transport=sandbox.transport()))
    assert (await provider.query_order("ORDER00001")).status is TxnStatus.NOT_FOUND
    await sandbox.aclose()


async def test_build_sandbox_reuses_the_keys_it_made(tmp_path):
    first, _ = build_sandbox(SandboxOptions(tmp_path, BASE_URL), lambda: httpx.AsyncClient())
    second, _ = build_sandbox(SandboxOptions(tmp_path, BASE_URL), lambda: httpx.AsyncClient())
    assert first.alipay_public_key_pem == second.alipay_public_key_pem
    assert first.app_private_key_pem == second.app_private_key_pem


async def test_paths_outside_the_rail_are_not_found(kit):
    for url in (f"{BASE_URL}/sandbox/wechatpay/x", f"{BASE_URL}/sandbox/alipay/nothing", f"{BASE_URL}/other"):
        assert (await kit.http.get(url)).status_code == 404


# ---- cashier --------------------------------------------------------------------------------------


async def test_qr_payload_opens_the_cashier_page(kit):
    page = await kit.http.get(await _qr_order(kit))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for text in ("123.45", "还款 Repayment", "ORDER00001", "沙箱商户", 'name="viewport"'):
        assert text in page.text
    for outcome in ("pay", "fail", "other_amount", "twice", "no_notify"):
        assert f'value="{outcome}"' in page.text
    assert "<script" not in page.text and "src=" not in page.text


async def test_cashier_escapes_the_subject(kit):
    page = await kit.http.get(await _qr_order(kit, subject="<b>还款</b>"))
    assert "<b>还款</b>" not in page.text
    assert "&lt;b&gt;" in page.text


async def test_unknown_cashier_code_is_not_found(kit):
    assert (await kit.http.get(f"{BASE_URL}/sandbox/alipay/qr/nosuchcode")).status_code == 404


async def test_pay_button_pays_and_returns_to_the_cashier_for_qr(kit):
    url = await _qr_order(kit)
    answer = await _press(kit, url, "pay")
    assert answer.status_code == 303
    assert answer.headers["location"] == url
    assert (await kit.provider.query_order("ORDER00001")).status is TxnStatus.SUCCESS
    page = await kit.http.get(url)
    assert "TRADE_SUCCESS" in page.text and 'value="pay"' not in page.text


async def test_fail_button_closes_the_trade(kit):
    answer = await _press(kit, await _qr_order(kit), "fail")
    assert answer.status_code == 303
    assert (await kit.provider.query_order("ORDER00001")).status is TxnStatus.CLOSED


async def test_other_amount_button_pays_the_typed_amount(kit):
    await _press(kit, await _qr_order(kit), "other_amount", amount="0.01")
    await kit.sandbox.sender.drain()
    assert form(kit.bodies()[0])["total_amount"] == "0.01"


async def test_other_amount_button_with_a_bad_amount_shows_the_cashier_again(kit):
    url = await _qr_order(kit)
    answer = await _press(kit, url, "other_amount", amount="1.234")
    assert answer.status_code == 400
    assert 'value="pay"' in answer.text
    assert (await kit.provider.query_order("ORDER00001")).status is TxnStatus.PENDING


async def test_twice_button_sends_two_notifications_with_two_trade_numbers(kit):
    await _press(kit, await _qr_order(kit), "twice")
    await kit.sandbox.sender.drain()
    first, second = (form(body) for body in kit.bodies())
    assert first["out_trade_no"] == second["out_trade_no"] == "ORDER00001"
    assert first["trade_no"] != second["trade_no"]


async def test_no_notify_button_pays_silently(kit):
    await _press(kit, await _qr_order(kit), "no_notify")
    await kit.sandbox.sender.drain()
    assert kit.received == []
    assert (await kit.provider.query_order("ORDER00001")).status is TxnStatus.SUCCESS


async def test_a_paid_order_cannot_be_paid_again(kit):
    url = await _qr_order(kit)
    await _press(kit, url, "pay")
    assert (await _press(kit, url, "pay")).status_code == 400
    with pytest.raises(ValueError):
        await kit.sandbox.pay("ORDER00001")


async def test_an_expired_order_cannot_be_paid(kit):
    await _qr_order(kit, minutes=1)
    kit.sandbox.clock = lambda: datetime.now(BEIJING) + timedelta(minutes=2)
    with pytest.raises(ValueError):
        await kit.sandbox.pay("ORDER00001")


async def test_wap_outcome_redirects_to_the_return_url_with_a_signed_query(kit):
    action = await kit.provider.create_order(kit.order(scene=Scene.MOBILE))
    page = await kit.http.get(action.url)
    action_url = page.text.split('action="')[1].split('"')[0]
    answer = await _press(kit, action_url, "pay")
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(RETURN_URL + "?")
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["method"] == "alipay.trade.wap.pay.return"
    assert query["total_amount"] == "123.45"
    assert crypto.verify(platform_key().public_key(), crypto.notification_sign_content(query), query["sign"])


async def test_wap_link_with_a_bad_signature_shows_the_gateway_error(kit):
    action = await kit.provider.create_order(kit.order(scene=Scene.MOBILE))
    tampered = action.url.replace("123.45", "0.01")
    page = await kit.http.get(tampered)
    assert "isv.invalid-signature" in page.text
    assert "ORDER00001" not in kit.sandbox.orders


async def test_wap_link_with_the_sdk_default_product_code_is_refused(kit):
    params = {
        "app_id": kit.config.app_id,
        "method": "alipay.trade.wap.pay",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": "2024-05-01 10:00:00",
        "version": "1.0",
        "biz_content": json.dumps(
            {
                "out_trade_no": "ORDER00001",
                "total_amount": "1.00",
                "subject": "x",
                "product_code": "QUICK_WAP_PAY",
            }
        ),
    }
    params["sign"] = crypto.sign(merchant_key(), crypto.request_sign_content(params))
    page = await kit.http.get(kit.config.gateway_url + "?" + urlencode(params))
    assert "ACQ.PRODUCT_CODE_ERROR" in page.text


# ---- gateway request checks -----------------------------------------------------------------------


def _signed(kit, method: str, biz: dict, **overrides: str) -> dict[str, str]:
    params = {
        "app_id": kit.config.app_id,
        "method": method,
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": "2024-05-01 10:00:00",
        "version": "1.0",
        "biz_content": json.dumps(biz),
    }
    params["sign"] = crypto.sign(merchant_key(), crypto.request_sign_content(params))
    params.update(overrides)
    return params


async def _answer(kit, params: dict[str, str]) -> dict:
    response = await kit.http.post(
        kit.config.gateway_url,
        content=urlencode(params).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    body = json.loads(response.content)
    return next(value for key, value in body.items() if key != "sign")


async def test_gateway_accepts_parameters_in_the_query_string_too(kit):
    params = _signed(kit, "alipay.trade.query", {"out_trade_no": "ORDER00001"})
    response = await kit.http.get(kit.config.gateway_url + "?" + urlencode(params))
    assert json.loads(response.content)["alipay_trade_query_response"]["sub_code"] == "ACQ.TRADE_NOT_EXIST"


async def test_gateway_signs_every_answer_over_the_exact_text(kit):
    params = _signed(kit, "alipay.trade.query", {"out_trade_no": "ORDER00001"})
    response = await kit.http.post(kit.config.gateway_url, content=urlencode(params).encode())
    text = response.content.decode()
    spans = crypto.top_level_spans(text)
    content = text[slice(*spans["alipay_trade_query_response"])]
    sign = json.loads(text[slice(*spans["sign"])])
    assert crypto.verify(platform_key().public_key(), content, sign)


@pytest.mark.parametrize(
    ("override", "sub_code"),
    [
        ({"sign": ""}, "isv.missing-sign"),
        ({"sign_type": "RSA"}, "isv.invalid-signature-type"),
        ({"app_id": "2021000000000999"}, "isv.invalid-app-id"),
        ({"timestamp": "yesterday"}, "isv.invalid-timestamp"),
        ({"biz_content": '{"out_trade_no":"ORDER00002"}'}, "isv.invalid-signature"),
    ],
)
async def test_gateway_refuses_bad_requests_with_alipays_codes(kit, override, sub_code):
    params = _signed(kit, "alipay.trade.query", {"out_trade_no": "ORDER00001"}, **override)
    assert (await _answer(kit, params))["sub_code"] == sub_code


async def test_gateway_checks_the_signature_with_sign_type_included(kit):
    params = _signed(kit, "alipay.trade.query", {"out_trade_no": "ORDER00001"})
    without = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
    params["sign"] = crypto.sign(merchant_key(), crypto.request_sign_content(without))
    assert (await _answer(kit, params))["sub_code"] == "isv.invalid-signature"


async def test_gateway_answers_unknown_methods_with_error_response(kit):
    params = _signed(kit, "alipay.trade.nonsense", {})
    response = await kit.http.post(kit.config.gateway_url, content=urlencode(params).encode())
    assert json.loads(response.content)["error_response"]["sub_code"] == "isv.invalid-method"


async def test_bill_link_expires_after_thirty_seconds(kit):
    await _qr_order(kit)
    await kit.sandbox.pay("ORDER00001")
    params = _signed(
        kit,
        "alipay.data.dataservice.bill.downloadurl.query",
        {"bill_type": "trade", "bill_date": datetime.now(BEIJING).date().isoformat()},
    )
    url = (await _answer(kit, params))["bill_download_url"]
    assert url.startswith(f"{BASE_URL}/sandbox/alipay/bill/")
    later = datetime.now(BEIJING) + timedelta(seconds=31)
    kit.sandbox.clock = lambda: later
    assert (await kit.http.get(url)).status_code == 404


# ---- notifications and retries ----------------------------------------------------------------------


async def test_notifications_are_signed_with_the_platform_key(kit):
    await _qr_order(kit)
    await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()
    fields = form(kit.bodies()[0])
    assert crypto.verify(
        platform_key().public_key(), crypto.notification_sign_content(fields), fields["sign"]
    )


async def test_acknowledged_notification_is_sent_once(kit):
    await _qr_order(kit)
    await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()
    (delivery,) = kit.sandbox.sender.deliveries
    assert delivery.acknowledged and len(delivery.attempts) == 1


async def test_unacknowledged_notification_follows_alipays_schedule(kit):
    kit.responder = always(b"fail")
    await _qr_order(kit)
    await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()
    (delivery,) = kit.sandbox.sender.deliveries
    assert list(delivery.schedule) == [4 * 60, 10 * 60, 10 * 60, 3600, 2 * 3600, 6 * 3600, 15 * 3600]
    assert len(delivery.attempts) == 8
    assert not delivery.acknowledged


async def test_retry_gaps_are_the_schedule_divided_by_the_time_factor():
    kit = make_kit(time_factor=100_000.0)  # 4 min -> 2.4 ms, the whole schedule -> under a second
    try:
        kit.responder = always(b"fail")
        await _qr_order(kit)
        await kit.sandbox.pay("ORDER00001")
        await kit.sandbox.sender.drain()
        (delivery,) = kit.sandbox.sender.deliveries
        times = [moment for moment, _ in delivery.attempts]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        expected = [s / 100_000.0 for s in wire.RETRY_SCHEDULE]
        for gap, want in zip(gaps, expected, strict=True):
            assert want * 0.8 <= gap <= want + 0.25
    finally:
        await kit.aclose()


@pytest.mark.parametrize(
    "body", [b"SUCCESS", b"success\n", b" success", b'"success"', b"<p>success</p>", b""]
)
async def test_only_the_exact_body_success_acknowledges(kit, body):
    kit.responder = always(body)
    await _qr_order(kit)
    await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()
    assert len(kit.sandbox.sender.deliveries[0].attempts) == 8


async def test_retries_stop_at_the_first_success(kit):
    answers = iter([b"fail", b"error", b"success"])
    kit.responder = lambda request: httpx.Response(200, content=next(answers))
    await _qr_order(kit)
    await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()
    assert len(kit.received) == 3 and kit.sandbox.sender.deliveries[0].acknowledged


async def test_a_server_error_status_with_success_body_still_acknowledges(kit):
    kit.responder = always(b"success", status=500)
    await _qr_order(kit)
    await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()
    assert len(kit.received) == 1


async def test_retries_repeat_the_same_notification_id_and_body(kit):
    kit.responder = always(b"fail")
    await _qr_order(kit)
    await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()
    bodies = kit.bodies()
    assert len(set(bodies)) == 1
    assert len({form(body)["notify_id"] for body in bodies}) == 1


async def test_qr_failure_sends_no_notification_but_wap_failure_sends_trade_closed(kit):
    await _qr_order(kit)
    await kit.sandbox.pay("ORDER00001", "fail")
    action = await kit.provider.create_order(kit.order("ORDER00002", scene=Scene.MOBILE))
    await kit.http.get(action.url)
    await kit.sandbox.pay("ORDER00002", "fail")
    await kit.sandbox.sender.drain()
    (body,) = kit.bodies()
    fields = form(body)
    assert (fields["out_trade_no"], fields["trade_status"]) == ("ORDER00002", "TRADE_CLOSED")
    assert "gmt_close" in fields


async def test_notification_round_trip_through_the_client_is_accepted(kit):
    def service(request: httpx.Request) -> httpx.Response:
        event = kit.provider.parse_notification(dict(request.headers), request.content, datetime.now(BEIJING))
        ack = (
            kit.provider.ack_success() if event.amount == Money(12345) else kit.provider.ack_failure("amount")
        )
        return httpx.Response(ack.status_code, content=ack.body)

    kit.responder = service
    await _qr_order(kit)
    await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()
    assert kit.sandbox.sender.deliveries[0].acknowledged


async def test_aclose_cancels_pending_retries():
    slow = make_kit(time_factor=1.0)
    slow.responder = always(b"fail")
    await slow.provider.create_order(slow.order())
    await slow.sandbox.pay("ORDER00001")
    await slow.sandbox.aclose()
    await slow.sandbox.sender.drain()
    assert len(slow.sandbox.sender.deliveries[0].attempts) <= 1
