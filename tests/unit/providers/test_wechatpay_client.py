"""WechatPayProvider against the sandbox: every operation round-trips, requests are signed per
providers.md 2.1, and answers are verified per 2.3."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from payments.domain.money import Money
from providers.base import (
    BEIJING,
    OrderRequest,
    Provider,
    ProviderError,
    RefundRequest,
    RefundStatus,
    Scene,
    TxnStatus,
)
from providers.wechatpay import crypto
from providers.wechatpay.client import WechatPayProvider
from tests.unit.providers.test_wechatpay_rig import Rig, open_rig, order_request, pem, rsa_key

NO = "ORDER20240001"


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with open_rig(tmp_path) as r:
        yield r


def _auth_pairs(request: httpx.Request) -> dict[str, str]:
    scheme, _, rest = request.headers["Authorization"].partition(" ")
    assert scheme == "WECHATPAY2-SHA256-RSA2048"
    return dict(re.findall(r'(\w+)="([^"]*)"', rest))


def _verifies_as_merchant(request: httpx.Request, url: str, body: bytes) -> bool:
    pairs = _auth_pairs(request)
    message = f"{request.method}\n{url}\n{pairs['timestamp']}\n{pairs['nonce_str']}\n".encode() + body + b"\n"
    try:
        rsa_key("merchant").public_key().verify(
            base64.b64decode(pairs["signature"]), message, padding.PKCS1v15(), hashes.SHA256()
        )
    except Exception:
        return False
    return True


def test_the_client_implements_the_provider_protocol(rig: Rig) -> None:
    assert isinstance(rig.provider, Provider)
    assert (rig.provider.name, rig.provider.merchant_id) == ("wechatpay", rig.config.mchid)


# -- create_order ------------------------------------------------------------------------------


async def test_qr_scene_creates_a_native_order_with_a_weixin_code_url(rig: Rig) -> None:
    action = await rig.order(scene=Scene.QR)
    assert action.kind == "qr"
    assert re.fullmatch(r"weixin://wxpay/bizpayurl\?pr=[A-Za-z0-9]+", action.qr_payload)


async def test_mobile_scene_redirects_to_the_h5_url_with_our_return_url(rig: Rig) -> None:
    action = await rig.order(scene=Scene.MOBILE)
    assert action.kind == "redirect"
    assert action.url.startswith("http://127.0.0.1:8000/sandbox/wechatpay/cashier/")
    assert action.url.endswith("redirect_url=http%3A%2F%2F127.0.0.1%3A8000%2Fpay%2Ftok123")


async def test_native_request_carries_integer_fen_and_beijing_rfc3339_expiry(rig: Rig) -> None:
    provider = rig.provider_via()
    await provider.create_order(
        dataclasses.replace(_request(), expires_at=datetime(2024, 1, 16, 14, 43, 59, tzinfo=UTC))
    )
    request = rig.seen[-1]
    body = json.loads(request.content)
    assert request.url.path == "/sandbox/wechatpay/v3/pay/transactions/native"
    assert body["amount"] == {"total": 12345, "currency": "CNY"}
    assert body["time_expire"] == "2024-01-16T22:43:59+08:00"
    assert (body["appid"], body["mchid"], body["out_trade_no"]) == (rig.config.appid, rig.config.mchid, NO)
    assert "scene_info" not in body


async def test_h5_request_carries_scene_info_with_payer_ip_and_wap_type(rig: Rig) -> None:
    provider = rig.provider_via()
    await provider.create_order(dataclasses.replace(_request(), scene=Scene.MOBILE))
    body = json.loads(rig.seen[-1].content)
    assert rig.seen[-1].url.path.endswith("/v3/pay/transactions/h5")
    assert body["scene_info"] == {"payer_client_ip": "203.0.113.7", "h5_info": {"type": "Wap"}}


async def test_post_signature_covers_the_path_and_the_exact_body_bytes_sent(rig: Rig) -> None:
    provider = rig.provider_via()
    await provider.create_order(_request())
    request = rig.seen[-1]
    pairs = _auth_pairs(request)
    assert pairs["mchid"] == rig.config.mchid
    assert pairs["serial_no"] == rig.config.merchant_serial_no
    assert _verifies_as_merchant(request, "/sandbox/wechatpay/v3/pay/transactions/native", request.content)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"


async def test_get_signature_covers_the_query_and_an_empty_body_line(rig: Rig) -> None:
    await rig.order()
    provider = rig.provider_via()
    await provider.query_order(NO)
    request = rig.seen[-1]
    url = f"/sandbox/wechatpay/v3/pay/transactions/out-trade-no/{NO}?mchid={rig.config.mchid}"
    assert request.content == b""
    assert _verifies_as_merchant(request, url, b"")
    assert not _verifies_as_merchant(request, url.partition("?")[0], b"")


async def test_repeating_an_identical_order_request_returns_the_same_code_url(rig: Rig) -> None:
    request = _request()
    first = await rig.provider.create_order(request)
    second = await rig.provider.create_order(request)
    assert first.qr_payload == second.qr_payload


async def test_reusing_an_order_number_for_another_amount_is_refused(rig: Rig) -> None:
    await rig.order(fen=100)
    with pytest.raises(ProviderError) as info:
        await rig.order(fen=200)
    assert info.value.code == "OUT_TRADE_NO_USED"


# -- query and close -----------------------------------------------------------------------------


async def test_query_of_an_unpaid_order_is_pending(rig: Rig) -> None:
    await rig.order()
    state = await rig.provider.query_order(NO)
    assert state.status is TxnStatus.PENDING
    assert state.amount == Money(12345)
    assert state.provider_txn_id == ""


async def test_query_of_a_paid_order_is_success_with_transaction_id_and_time(rig: Rig) -> None:
    await rig.order()
    [txn_id] = await rig.sandbox.pay(NO)
    state = await rig.provider.query_order(NO)
    assert state.status is TxnStatus.SUCCESS
    assert state.provider_txn_id == txn_id
    assert state.paid_at is not None and state.paid_at.utcoffset() == timedelta(hours=8)


async def test_query_of_a_failed_payment_is_failed(rig: Rig) -> None:
    await rig.order()
    await rig.sandbox.pay(NO, "fail")
    assert (await rig.provider.query_order(NO)).status is TxnStatus.FAILED


async def test_query_of_an_unknown_order_is_not_found(rig: Rig) -> None:
    state = await rig.provider.query_order("NOSUCHORDER1")
    assert state.status is TxnStatus.NOT_FOUND


async def test_closed_order_queries_as_closed(rig: Rig) -> None:
    await rig.order()
    await rig.provider.close_order(NO)
    assert (await rig.provider.query_order(NO)).status is TxnStatus.CLOSED


async def test_closing_a_paid_order_is_refused_with_orderpaid(rig: Rig) -> None:
    await rig.order()
    await rig.sandbox.pay(NO)
    with pytest.raises(ProviderError) as info:
        await rig.provider.close_order(NO)
    assert info.value.code == "ORDERPAID"
    assert not info.value.retryable


# -- refunds -------------------------------------------------------------------------------------


def _refund(refund_no: str = "REFUND2024001", fen: int = 2345) -> RefundRequest:
    return RefundRequest(out_trade_no=NO, refund_no=refund_no, amount=Money(fen), order_total=Money(12345))


async def test_refund_is_accepted_as_processing_and_then_queries_as_success(rig: Rig) -> None:
    await rig.paid()
    created = await rig.provider.refund(_refund())
    queried = await rig.provider.query_refund(NO, "REFUND2024001")
    assert created.status is RefundStatus.PROCESSING
    assert queried.status is RefundStatus.SUCCESS
    assert queried.amount == Money(2345)
    assert queried.provider_refund_id == created.provider_refund_id != ""


async def test_refund_is_idempotent_by_refund_number(rig: Rig) -> None:
    await rig.paid()
    first = await rig.provider.refund(_refund())
    second = await rig.provider.refund(_refund())
    await rig.sandbox.sender.drain()
    assert second.provider_refund_id == first.provider_refund_id
    assert len(rig.sandbox.refunds) == 1
    assert len(rig.notifications) == 2  # the payment and one refund, not two


async def test_refunds_beyond_the_order_total_are_refused(rig: Rig) -> None:
    await rig.paid()
    await rig.provider.refund(_refund("REFUND2024001", 12000))
    with pytest.raises(ProviderError) as info:
        await rig.provider.refund(_refund("REFUND2024002", 346))
    assert info.value.code == "INVALID_REQUEST"


async def test_refund_request_names_order_total_and_refund_in_fen(rig: Rig) -> None:
    await rig.paid()
    await rig.provider_via().refund(_refund())
    body = json.loads(rig.seen[-1].content)
    assert body["amount"] == {"refund": 2345, "total": 12345, "currency": "CNY"}
    assert (body["out_trade_no"], body["out_refund_no"]) == (NO, "REFUND2024001")


async def test_query_of_an_unknown_refund_raises(rig: Rig) -> None:
    with pytest.raises(ProviderError) as info:
        await rig.provider.query_refund(NO, "REFUND0000404")
    assert info.value.code == "RESOURCE_NOT_EXISTS"


# -- statements ----------------------------------------------------------------------------------


async def test_fetch_statement_returns_the_day_bill_after_checking_its_sha1(rig: Rig) -> None:
    await rig.paid()
    data = await rig.provider.fetch_statement(datetime.now(BEIJING).date())
    [line] = rig.provider.parse_statement(data)
    assert (line.kind, line.out_trade_no, line.amount) == ("payment", NO, Money(12345))


async def test_fetch_statement_signs_the_download_but_does_not_need_it_signed(rig: Rig) -> None:
    await rig.paid()
    provider = rig.provider_via()
    await provider.fetch_statement(datetime.now(BEIJING).date())
    tradebill, download = rig.seen[-2:]
    assert tradebill.url.params["bill_type"] == "ALL"
    assert download.url.path.endswith("/v3/billdownload/file")
    assert _verifies_as_merchant(download, download.url.raw_path.decode(), b"")


async def test_fetch_statement_for_a_day_without_trades_raises_no_statement_exist(rig: Rig) -> None:
    with pytest.raises(ProviderError) as info:
        await rig.provider.fetch_statement(datetime(2024, 1, 16, tzinfo=BEIJING).date())
    assert info.value.code == "NO_STATEMENT_EXIST"


async def test_a_bill_whose_sha1_does_not_match_is_refused(rig: Rig) -> None:
    def tamper(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path.endswith("/billdownload/file"):
            return httpx.Response(200, content=response.content.replace(b"123.45", b"999.45"))
        return response

    await rig.paid()
    with pytest.raises(ProviderError) as info:
        await rig.provider_via(tamper).fetch_statement(datetime.now(BEIJING).date())
    assert info.value.code == "BILL_HASH_MISMATCH"


async def test_a_download_url_off_the_gateway_is_never_called(rig: Rig) -> None:
    def elsewhere(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path.endswith("/tradebill"):
            doc = {"hash_type": "SHA1", "hash_value": "0" * 40, "download_url": "http://127.0.0.2:9/steal"}
            return rig.sandbox.signed(200, doc)
        return response

    await rig.paid()
    with pytest.raises(ProviderError):
        await rig.provider_via(elsewhere).fetch_statement(datetime.now(BEIJING).date())
    assert not any(r.url.host == "127.0.0.2" for r in rig.seen)


# -- answers must be WeChat's --------------------------------------------------------------------


async def test_a_2xx_answer_without_a_signature_is_treated_as_forged(rig: Rig) -> None:
    def strip(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        return httpx.Response(response.status_code, content=response.content)

    with pytest.raises(ProviderError) as info:
        await rig.provider_via(strip).create_order(_request())
    assert info.value.code == "INVALID_SIGNATURE"


async def test_a_2xx_answer_signed_by_another_key_is_refused(rig: Rig) -> None:
    def forge(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        headers = crypto.signed_headers(
            rsa_key("intruder"),
            rig.sandbox.platform_key_id,
            response.content,
            response.headers["Wechatpay-Timestamp"],
        )
        return httpx.Response(200, content=response.content, headers=headers)

    with pytest.raises(ProviderError) as info:
        await rig.provider_via(forge).create_order(_request())
    assert info.value.code == "INVALID_SIGNATURE"


async def test_a_2xx_answer_with_an_edited_body_is_refused(rig: Rig) -> None:
    def edit(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        content = response.content.replace(b"pr=", b"pr=X")
        return httpx.Response(200, content=content, headers=response.headers)

    with pytest.raises(ProviderError):
        await rig.provider_via(edit).create_order(_request())


async def test_a_2xx_answer_with_an_old_timestamp_is_refused(rig: Rig) -> None:
    def replay(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        old = str(int(datetime.now(UTC).timestamp()) - 600)
        headers = crypto.signed_headers(
            rig.sandbox.platform_key, rig.sandbox.platform_key_id, response.content, old
        )
        return httpx.Response(200, content=response.content, headers=headers)

    with pytest.raises(ProviderError) as info:
        await rig.provider_via(replay).create_order(_request())
    assert "stale" in info.value.detail or "outside" in info.value.detail


async def test_a_request_signed_with_the_wrong_merchant_key_gets_401_sign_error(rig: Rig) -> None:
    config = dataclasses.replace(rig.config, merchant_private_key_pem=pem(rsa_key("intruder")))
    with pytest.raises(ProviderError) as info:
        await rig.provider_via(config=config).create_order(_request())
    assert info.value.code == "SIGN_ERROR"
    assert not info.value.retryable


async def test_network_failures_are_retryable_provider_errors(rig: Rig) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
        with pytest.raises(ProviderError) as info:
            await WechatPayProvider(rig.config, http).query_order(NO)
    assert info.value.code == "NETWORK_ERROR" and info.value.retryable


async def test_a_5xx_system_error_is_retryable(rig: Rig) -> None:
    def busy(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        return rig.sandbox.signed(500, {"code": "SYSTEM_ERROR", "message": "系统错误"})

    with pytest.raises(ProviderError) as info:
        await rig.provider_via(busy).query_order(NO)
    assert (info.value.code, info.value.retryable) == ("SYSTEM_ERROR", True)


def _request() -> OrderRequest:
    return order_request(NO)
