"""Cross-checks against the public python-alipay-sdk (test-only dependency; skipped when absent).

python-alipay-sdk and the official alipay-sdk-python both install a package named `alipay`; only the
former has `AliPay` (providers.md §5 pitfall 8). Its `verify()` always drops `sign_type`, so it can
check notifications but not requests (pitfall 5): requests are checked with its lower-level
`_verify`, and by comparing signatures, which PKCS#1 v1.5 makes deterministic. It takes PEM keys
with headers, PKCS#1 or PKCS#8 (pitfall 9).
"""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from providers.alipay import crypto
from providers.alipay.client import AlipayProvider
from providers.base import BEIJING, NotificationRejected, RejectReason
from tests.unit.providers.test_alipay_kit import (
    form,
    make_kit,
    merchant_key,
    payment_fields,
    platform_key,
)

alipay_sdk = pytest.importorskip("alipay")
if not hasattr(alipay_sdk, "AliPay"):
    pytest.skip("the `alipay` package here is not python-alipay-sdk", allow_module_level=True)

NOW = datetime(2024, 5, 1, 10, 0, 6, tzinfo=BEIJING)


def _pem_private(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem_public(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def merchant_sdk(app_id: str):
    """The SDK as the merchant uses it: app key to sign, the (sandbox) Alipay key to verify."""
    return alipay_sdk.AliPay(
        appid=app_id,
        app_private_key_string=_pem_private(merchant_key()),
        alipay_public_key_string=_pem_public(platform_key()),
        sign_type="RSA2",
    )


def alipay_side_sdk(app_id: str):
    """The SDK holding the platform key, to sign what Alipay would send; verifies with the merchant key."""
    return alipay_sdk.AliPay(
        appid=app_id,
        app_private_key_string=_pem_private(platform_key()),
        alipay_public_key_string=_pem_public(merchant_key()),
        sign_type="RSA2",
    )


@pytest.fixture
async def kit():
    kit = make_kit()
    yield kit
    await kit.aclose()


async def _captured_request(kit) -> dict[str, str]:
    seen: list[httpx.Request] = []

    async def forward(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await kit.sandbox.handle(request)

    provider = AlipayProvider(kit.config, httpx.AsyncClient(transport=httpx.MockTransport(forward)))
    await provider.create_order(kit.order(subject="还款+测试 A&B"))
    return dict(parse_qsl(seen[0].content.decode("ascii"), keep_blank_values=True))


async def test_our_request_signature_equals_the_sdks_for_the_same_parameters(kit):
    params = await _captured_request(kit)
    unsigned = {k: v for k, v in params.items() if k != "sign"}
    sdk_signed = dict(parse_qsl(merchant_sdk(kit.config.app_id).sign_data(dict(unsigned))))
    assert sdk_signed["sign"] == params["sign"]


async def test_sdk_verifies_our_request_over_content_with_sign_type(kit):
    params = await _captured_request(kit)
    checker = alipay_side_sdk(kit.config.app_id)
    content = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign")
    assert "sign_type=RSA2" in content
    assert checker._verify(content, params["sign"])


async def test_sdk_verify_cannot_check_requests_because_it_drops_sign_type(kit):
    params = await _captured_request(kit)
    checker = alipay_side_sdk(kit.config.app_id)
    data = {k: v for k, v in params.items() if k != "sign"}
    assert not checker.verify(data, params["sign"])


async def test_sandbox_gateway_accepts_a_wap_link_built_by_the_sdk(kit):
    sdk = merchant_sdk(kit.config.app_id)
    query = sdk.api_alipay_trade_wap_pay(
        subject="还款+测试",
        out_trade_no="ORDER00001",
        total_amount="123.45",
        return_url="http://127.0.0.1:8000/pay/tok/done",
        notify_url="http://127.0.0.1:8000/notify/alipay",
        product_code="QUICK_WAP_WAY",
    )
    page = await kit.http.get(kit.config.gateway_url + "?" + query)
    assert page.status_code == 200
    assert "123.45" in page.text and "isv." not in page.text
    assert kit.sandbox.orders["ORDER00001"].subject == "还款+测试"


async def test_sdk_verifies_the_sandboxs_signed_synchronous_response(kit):
    sdk = merchant_sdk(kit.config.app_id)
    params = sdk.sign_data(
        sdk.build_body(
            "alipay.trade.precreate",
            {"out_trade_no": "ORDER00001", "total_amount": "123.45", "subject": "还款"},
            notify_url="http://127.0.0.1:8000/notify/alipay",
        )
    )
    response = await kit.http.get(kit.config.gateway_url + "?" + params)
    result = sdk._verify_and_return_sync_response(response.text, "alipay_trade_precreate_response")
    assert result["code"] == "10000"
    assert result["qr_code"].startswith("http://127.0.0.1:8000/sandbox/alipay/qr/")


async def test_sdk_verifies_the_sandboxs_notifications(kit):
    await kit.provider.create_order(kit.order(subject="还款+测试 A&B"))
    await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()
    fields = form(kit.bodies()[0])
    signature = fields.pop("sign")
    assert merchant_sdk(kit.config.app_id).verify(fields, signature)


async def test_a_notification_signed_the_sdks_way_verifies_with_our_parser(kit):
    fields = payment_fields(kit.config)
    sdk = alipay_side_sdk(kit.config.app_id)
    unsigned = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
    body = urlencode({**fields, "sign_type": "RSA2", "sign": sdk._sign(unsigned)}).encode()
    event = kit.provider.parse_notification({}, body, NOW)
    assert (event.out_trade_no, event.amount.fen) == ("ORDER00001", 12345)


async def test_empty_values_follow_the_official_rule_not_the_sdks(kit):
    # python-alipay-sdk signs `k=` for an empty value; Alipay's own rule (Java SDK) leaves it out.
    fields = payment_fields(kit.config, passback_params="")
    sdk = alipay_side_sdk(kit.config.app_id)
    sdk_content = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
    official = crypto.notification_sign_content(fields)
    assert "passback_params=" in sdk_content and "passback_params" not in official
    sdk_body = urlencode({**fields, "sign_type": "RSA2", "sign": sdk._sign(sdk_content)}).encode()
    with pytest.raises(NotificationRejected) as caught:
        kit.provider.parse_notification({}, sdk_body, NOW)
    assert caught.value.reason is RejectReason.BAD_SIGNATURE
    official_body = urlencode({**fields, "sign_type": "RSA2", "sign": sdk._sign(official)}).encode()
    assert kit.provider.parse_notification({}, official_body, NOW).kind == "payment"


async def test_sdk_and_our_biz_content_serialisation_sign_the_same_way(kit):
    biz = {"out_trade_no": "ORDER00001", "total_amount": "1.00", "subject": "还款"}
    ours = json.dumps(biz, ensure_ascii=False, separators=(",", ":"))
    sdk_ordered = dict(merchant_sdk(kit.config.app_id)._ordered_data({"biz_content": dict(biz)}))
    # The SDK escapes non-ASCII (\\uXXXX) while we send UTF-8; both are signed as sent, so either verifies.
    assert json.loads(sdk_ordered["biz_content"]) == json.loads(ours)
