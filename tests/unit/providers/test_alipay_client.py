"""The Alipay client against the sandbox: every operation round-trips over httpx.MockTransport."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from payments.domain.money import Money
from providers.alipay import crypto
from providers.alipay.client import AlipayProvider
from providers.alipay.config import AlipayConfig
from providers.base import (
    BEIJING,
    Provider,
    ProviderError,
    RefundRequest,
    RefundStatus,
    Scene,
    TxnStatus,
)
from tests.unit.providers.test_alipay_kit import (
    NOTIFY_URL,
    RETURN_URL,
    Kit,
    make_kit,
    merchant_key,
    platform_key,
    stranger_key,
)


@pytest.fixture
async def kit():
    kit = make_kit()
    yield kit
    await kit.aclose()


def _params(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def _recording(kit: Kit) -> tuple[AlipayProvider, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    async def forward(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await kit.sandbox.handle(request)

    return AlipayProvider(kit.config, httpx.AsyncClient(transport=httpx.MockTransport(forward))), seen


def _refund(no: str = "RF00000001", fen: int = 2345, order: str = "ORDER00001") -> RefundRequest:
    return RefundRequest(out_trade_no=order, refund_no=no, amount=Money(fen), order_total=Money(12345))


async def test_provider_satisfies_the_protocol(kit):
    assert isinstance(kit.provider, Provider)
    assert kit.provider.name == "alipay"
    assert kit.provider.merchant_id == kit.config.app_id


async def test_qr_order_returns_the_cashier_url_as_qr_payload(kit):
    action = await kit.provider.create_order(kit.order())
    assert action.kind == "qr"
    assert action.qr_payload.startswith("http://127.0.0.1:8000/sandbox/alipay/qr/")


async def test_qr_order_is_a_signed_precreate_form_post(kit):
    provider, seen = _recording(kit)
    order = kit.order()
    await provider.create_order(order)
    (request,) = seen
    assert request.method == "POST"
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    params = dict(parse_qsl(request.content.decode("ascii"), keep_blank_values=True))
    assert params["method"] == "alipay.trade.precreate"
    assert params["sign_type"] == "RSA2"
    assert params["charset"] == "utf-8"
    assert params["notify_url"] == NOTIFY_URL
    assert crypto.verify(merchant_key().public_key(), crypto.request_sign_content(params), params["sign"])
    biz = json.loads(params["biz_content"])
    assert biz == {
        "out_trade_no": "ORDER00001",
        "total_amount": "123.45",
        "subject": "还款 Repayment",
        "time_expire": order.expires_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
    }


async def test_amounts_go_out_as_two_decimal_yuan_strings(kit):
    provider, seen = _recording(kit)
    await provider.create_order(kit.order("ORDER00002", fen=100))
    await provider.create_order(kit.order("ORDER00003", fen=1))
    amounts = [json.loads(dict(parse_qsl(r.content.decode()))["biz_content"])["total_amount"] for r in seen]
    assert amounts == ["1.00", "0.01"]


async def test_time_expire_is_beijing_time_whatever_the_input_zone(kit):
    provider, seen = _recording(kit)
    await provider.create_order(replace(kit.order(), expires_at=datetime(2099, 1, 1, 8, 30, tzinfo=UTC)))
    biz = json.loads(dict(parse_qsl(seen[0].content.decode()))["biz_content"])
    assert biz["time_expire"] == "2099-01-01 16:30:00"


async def test_mobile_order_is_a_signed_wap_link_to_the_gateway(kit):
    action = await kit.provider.create_order(kit.order(scene=Scene.MOBILE))
    assert action.kind == "redirect"
    assert action.url.startswith(kit.config.gateway_url + "?")
    params = _params(action.url)
    assert params["method"] == "alipay.trade.wap.pay"
    assert params["return_url"] == RETURN_URL
    assert json.loads(params["biz_content"])["product_code"] == "QUICK_WAP_WAY"
    assert crypto.verify(merchant_key().public_key(), crypto.request_sign_content(params), params["sign"])


async def test_wap_link_quotes_the_signature_with_quote_plus(kit):
    action = await kit.provider.create_order(kit.order(scene=Scene.MOBILE))
    raw_sign = urlsplit(action.url).query.split("sign=")[1].split("&")[0]
    assert "+" not in raw_sign and "/" not in raw_sign and "=" not in raw_sign
    assert " " not in action.url


async def test_wap_link_opens_the_sandbox_cashier(kit):
    action = await kit.provider.create_order(kit.order(scene=Scene.MOBILE))
    page = await kit.http.get(action.url)
    assert page.status_code == 200
    assert "123.45" in page.text and "ORDER00001" in page.text


async def test_create_order_refuses_bad_order_numbers_before_calling_out(kit):
    with pytest.raises(ValueError):
        await kit.provider.create_order(kit.order("bad-no_1"))


async def test_repeating_a_precreate_returns_the_same_code(kit):
    first = await kit.provider.create_order(kit.order())
    second = await kit.provider.create_order(kit.order())
    assert first.qr_payload == second.qr_payload


async def test_precreate_with_a_changed_amount_is_a_provider_error(kit):
    await kit.provider.create_order(kit.order())
    with pytest.raises(ProviderError) as caught:
        await kit.provider.create_order(kit.order(fen=999))
    assert caught.value.code == "ACQ.CONTEXT_INCONSISTENT"


async def test_query_of_an_unknown_order_is_not_found(kit):
    state = await kit.provider.query_order("NOSUCHORDER1")
    assert state.status is TxnStatus.NOT_FOUND


async def test_query_of_an_unpaid_order_is_pending(kit):
    await kit.provider.create_order(kit.order())
    state = await kit.provider.query_order("ORDER00001")
    assert state.status is TxnStatus.PENDING
    assert state.amount == Money(12345)


async def test_query_of_a_paid_order_reports_trade_and_time(kit):
    await kit.provider.create_order(kit.order())
    (trade_no,) = await kit.sandbox.pay("ORDER00001")
    state = await kit.provider.query_order("ORDER00001")
    assert state.status is TxnStatus.SUCCESS
    assert state.provider_txn_id == trade_no
    assert state.amount == Money(12345)
    assert state.paid_at is not None and state.paid_at.tzinfo is not None


async def test_query_after_expiry_is_closed(kit):
    await kit.provider.create_order(kit.order(minutes=5))
    kit.sandbox.clock = lambda: datetime.now(BEIJING) + timedelta(minutes=6)
    state = await kit.provider.query_order("ORDER00001")
    assert state.status is TxnStatus.CLOSED


async def test_close_makes_the_order_closed_and_unpayable(kit):
    await kit.provider.create_order(kit.order())
    await kit.provider.close_order("ORDER00001")
    assert (await kit.provider.query_order("ORDER00001")).status is TxnStatus.CLOSED
    with pytest.raises(ValueError):
        await kit.sandbox.pay("ORDER00001")


async def test_close_of_an_unknown_order_is_not_an_error(kit):
    await kit.provider.close_order("NOSUCHORDER1")


async def test_close_of_a_paid_order_is_a_provider_error(kit):
    await kit.provider.create_order(kit.order())
    await kit.sandbox.pay("ORDER00001")
    with pytest.raises(ProviderError) as caught:
        await kit.provider.close_order("ORDER00001")
    assert caught.value.code == "ACQ.TRADE_STATUS_ERROR"


async def test_refund_succeeds_and_reports_the_refund(kit):
    await kit.provider.create_order(kit.order())
    (trade_no,) = await kit.sandbox.pay("ORDER00001")
    state = await kit.provider.refund(_refund())
    assert state.status is RefundStatus.SUCCESS
    assert state.amount == Money(2345)
    assert state.refund_no == "RF00000001"
    assert state.provider_refund_id == trade_no


async def test_repeating_a_refund_number_moves_no_money_twice(kit):
    await kit.provider.create_order(kit.order())
    await kit.sandbox.pay("ORDER00001")
    first = await kit.provider.refund(_refund())
    again = await kit.provider.refund(_refund())
    assert again == first
    trade = kit.sandbox.orders["ORDER00001"].primary
    assert trade.refunded_fen == 2345
    assert len(kit.sandbox.orders["ORDER00001"].refunds) == 1


async def test_repeated_refund_is_answered_with_fund_change_n(kit):
    provider, seen = _recording(kit)
    await provider.create_order(kit.order())
    await kit.sandbox.pay("ORDER00001")
    await provider.refund(_refund())
    await provider.refund(_refund())
    refund_answers = [
        json.loads((await kit.sandbox.handle(r)).content)["alipay_trade_refund_response"]
        for r in seen
        if dict(parse_qsl(r.content.decode()))["method"] == "alipay.trade.refund"
    ]
    # Replaying the captured requests: the sandbox answers each repeat without moving money.
    assert [a["fund_change"] for a in refund_answers] == ["N", "N"]
    assert kit.sandbox.orders["ORDER00001"].primary.refunded_fen == 2345


async def test_refunds_beyond_the_paid_amount_are_refused(kit):
    await kit.provider.create_order(kit.order())
    await kit.sandbox.pay("ORDER00001")
    await kit.provider.refund(_refund("RF00000001", 12000))
    with pytest.raises(ProviderError) as caught:
        await kit.provider.refund(_refund("RF00000002", 346))
    assert caught.value.code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"


async def test_full_refund_closes_the_trade(kit):
    await kit.provider.create_order(kit.order())
    await kit.sandbox.pay("ORDER00001")
    await kit.provider.refund(_refund(fen=12345))
    assert (await kit.provider.query_order("ORDER00001")).status is TxnStatus.CLOSED


async def test_refund_of_an_unpaid_order_is_refused(kit):
    await kit.provider.create_order(kit.order())
    with pytest.raises(ProviderError) as caught:
        await kit.provider.refund(_refund())
    assert caught.value.code == "ACQ.TRADE_STATUS_ERROR"


async def test_refund_query_finds_the_refund(kit):
    await kit.provider.create_order(kit.order())
    await kit.sandbox.pay("ORDER00001")
    await kit.provider.refund(_refund())
    state = await kit.provider.query_refund("ORDER00001", "RF00000001")
    assert (state.status, state.amount, state.refund_no) == (RefundStatus.SUCCESS, Money(2345), "RF00000001")


async def test_refund_query_of_an_unknown_refund_number_says_not_found(kit):
    await kit.provider.create_order(kit.order())
    await kit.sandbox.pay("ORDER00001")
    with pytest.raises(ProviderError) as caught:
        await kit.provider.query_refund("ORDER00001", "RF99999999")
    assert caught.value.code == "REFUND_NOT_FOUND"


async def test_fetch_statement_downloads_the_bill_zip(kit):
    await kit.provider.create_order(kit.order())
    await kit.sandbox.pay("ORDER00001")
    data = await kit.provider.fetch_statement(datetime.now(BEIJING).date())
    assert data.startswith(b"PK")
    (line,) = kit.provider.parse_statement(data)
    assert (line.out_trade_no, line.amount) == ("ORDER00001", Money(12345))


async def test_fetch_statement_for_a_future_day_is_a_provider_error(kit):
    with pytest.raises(ProviderError) as caught:
        await kit.provider.fetch_statement(date.today() + timedelta(days=3))
    assert caught.value.code == "isp.bill_not_exist"


async def test_requests_signed_with_the_wrong_key_are_refused_by_the_gateway(kit):
    stranger = stranger_key()
    pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ProviderError) as caught:
        await kit.provider_with(app_private_key_pem=pem).query_order("ORDER00001")
    assert caught.value.code == "isv.invalid-signature"


async def test_requests_for_another_app_are_refused_by_the_gateway(kit):
    with pytest.raises(ProviderError) as caught:
        await kit.provider_with(app_id="2021999999999999").query_order("ORDER00001")
    assert caught.value.code == "isv.invalid-app-id"


def _answering(kit: Kit, text: str | bytes, status: int = 200) -> AlipayProvider:
    body = text.encode() if isinstance(text, str) else text
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    return AlipayProvider(kit.config, httpx.AsyncClient(transport=transport))


def _signed_answer(payload: str, key=None) -> str:
    signature = crypto.sign(key or platform_key(), payload)
    return '{"alipay_trade_query_response":' + payload + ',"sign":"' + signature + '"}'


_PAID = (
    '{"code":"10000","msg":"Success","trade_no":"2024050122001400001234567890","out_trade_no":"ORDER00001",'
    '"trade_status":"TRADE_SUCCESS","total_amount":"123.45","send_pay_date":"2024-05-01 10:00:01"}'
)


async def test_a_correctly_signed_response_is_accepted(kit):
    state = await _answering(kit, _signed_answer(_PAID)).query_order("ORDER00001")
    assert state.status is TxnStatus.SUCCESS


async def test_a_success_response_without_sign_is_a_provider_error(kit):
    with pytest.raises(ProviderError) as caught:
        await _answering(kit, '{"alipay_trade_query_response":' + _PAID + "}").query_order("ORDER00001")
    assert caught.value.code == "missing_signature"


async def test_a_response_signed_by_someone_else_is_a_provider_error(kit):
    with pytest.raises(ProviderError) as caught:
        await _answering(kit, _signed_answer(_PAID, stranger_key())).query_order("ORDER00001")
    assert caught.value.code == "bad_signature"


async def test_a_response_altered_after_signing_is_a_provider_error(kit):
    tampered = _signed_answer(_PAID).replace("123.45", "923.45")
    with pytest.raises(ProviderError) as caught:
        await _answering(kit, tampered).query_order("ORDER00001")
    assert caught.value.code == "bad_signature"


async def test_a_response_reformatted_after_signing_is_a_provider_error(kit):
    spaced = _signed_answer(_PAID).replace('","', '", "')
    with pytest.raises(ProviderError) as caught:
        await _answering(kit, spaced).query_order("ORDER00001")
    assert caught.value.code == "bad_signature"


async def test_an_unsigned_gateway_error_is_reported_by_its_sub_code(kit):
    text = '{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"}}'
    with pytest.raises(ProviderError) as caught:
        await _answering(kit, text).query_order("ORDER00001")
    assert caught.value.code == "isv.invalid-app-id"


@pytest.mark.parametrize("text", [b"<html>busy</html>", b"\xff\xfe", b'{"unexpected":{}}'])
async def test_unreadable_responses_are_provider_errors(kit, text):
    with pytest.raises(ProviderError) as caught:
        await _answering(kit, text).query_order("ORDER00001")
    assert caught.value.code == "malformed_response"


async def test_server_errors_are_retryable_provider_errors(kit):
    with pytest.raises(ProviderError) as caught:
        await _answering(kit, "oops", status=502).query_order("ORDER00001")
    assert caught.value.retryable and caught.value.code == "http_502"


async def test_transport_failures_are_retryable_provider_errors(kit):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    provider = AlipayProvider(kit.config, httpx.AsyncClient(transport=httpx.MockTransport(refuse)))
    with pytest.raises(ProviderError) as caught:
        await provider.query_order("ORDER00001")
    assert caught.value.retryable and caught.value.code == "unreachable"


def test_config_defaults_to_the_live_gateway():
    config = AlipayConfig(app_id="2021000000000001", app_private_key_pem=b"k", alipay_public_key_pem=b"k")
    assert config.gateway_url == "https://openapi.alipay.com/gateway.do"
    assert config.mode == "live"


@pytest.mark.parametrize(
    "changes",
    [
        {"mode": "test"},
        {"app_id": ""},
        {"seller_id": "2089000000000000"},
        {"gateway_url": "http://openapi.alipay.com/gateway.do"},
        {"gateway_url": "openapi.alipay.com"},
    ],
)
def test_config_refuses_bad_settings(changes):
    settings = {"app_id": "2021000000000001", "app_private_key_pem": b"k", "alipay_public_key_pem": b"k"}
    with pytest.raises(ValueError):
        AlipayConfig(**{**settings, **changes})


def _scripted(kit: Kit, answers: dict[str, str]) -> AlipayProvider:
    """A gateway that answers each method with a fixed, correctly signed response object."""

    def answer(request: httpx.Request) -> httpx.Response:
        method = dict(parse_qsl(request.content.decode()))["method"]
        payload = answers[method]
        key = method.replace(".", "_") + "_response"
        signature = crypto.sign(platform_key(), payload)
        return httpx.Response(200, text='{"' + key + '":' + payload + ',"sign":"' + signature + '"}')

    return AlipayProvider(kit.config, httpx.AsyncClient(transport=httpx.MockTransport(answer)))


async def test_refund_without_fund_change_and_not_yet_visible_is_processing(kit):
    provider = _scripted(
        kit,
        {
            "alipay.trade.refund": '{"code":"10000","msg":"Success","fund_change":"N","refund_fee":"0.00"}',
            "alipay.trade.fastpay.refund.query": '{"code":"10000","msg":"Success","out_trade_no":"ORDER00001"}',
        },
    )
    state = await provider.refund(_refund())
    assert (state.status, state.amount) == (RefundStatus.PROCESSING, Money(2345))


async def test_refund_query_with_another_status_is_processing(kit):
    provider = _scripted(
        kit,
        {
            "alipay.trade.fastpay.refund.query": (
                '{"code":"10000","msg":"Success","out_request_no":"RF00000001","refund_amount":"23.45",'
                '"refund_status":"REFUND_PROCESSING"}'
            )
        },
    )
    state = await provider.query_refund("ORDER00001", "RF00000001")
    assert state.status is RefundStatus.PROCESSING


async def test_system_errors_from_the_gateway_are_retryable(kit):
    provider = _scripted(
        kit,
        {
            "alipay.trade.query": '{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"}'
        },
    )
    with pytest.raises(ProviderError) as caught:
        await provider.query_order("ORDER00001")
    assert caught.value.retryable and caught.value.code == "isp.unknow-error"


async def test_wap_order_exists_at_the_gateway_only_once_the_link_is_opened(kit):
    action = await kit.provider.create_order(kit.order(scene=Scene.MOBILE))
    assert (await kit.provider.query_order("ORDER00001")).status is TxnStatus.NOT_FOUND
    await kit.http.get(action.url)
    assert (await kit.provider.query_order("ORDER00001")).status is TxnStatus.PENDING
