"""Paying inside WeChat's browser: web OAuth (code -> openid), the JSAPI order, the page's paySign,
and the sandbox's stand-ins for WeChat's side of each (providers.md 2.2, JSAPI row)."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from payments.services.rails import build_rails
from payments.settings import load_settings
from providers.base import (
    InAppPayments,
    NotificationRejected,
    PayAction,
    ProviderError,
    RejectReason,
    Scene,
)
from providers.wechatpay import jsapi, oauth
from providers.wechatpay.config import WechatPayConfig
from providers.wechatpay.sandbox import BRIDGE_SHEET_PATH, PREFIX
from tests.unit.providers.test_wechatpay_client import _verifies_as_merchant
from tests.unit.providers.test_wechatpay_rig import (
    BASE_URL,
    Rig,
    open_rig,
    order_request,
    pem,
    public,
    rsa_key,
)
from tests.unit.providers.test_wechatpay_sandbox import _signed_call

NO = "ORDER20240001"
SHEET = f"{BASE_URL}{PREFIX}{BRIDGE_SHEET_PATH}"


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with open_rig(tmp_path) as r:
        yield r


async def _jsapi_order(rig: Rig, out_trade_no: str = NO, fen: int = 12345) -> tuple[PayAction, str, str]:
    openid, cookie = await rig.openid()
    request = dataclasses.replace(order_request(out_trade_no, fen), scene=Scene.IN_APP, payer_id=openid)
    return await rig.provider.create_order(request), openid, cookie


async def _open_sheet(rig: Rig, params: dict[str, str], cookie: str) -> httpx.Response:
    form = {**params, "redirect_url": f"{BASE_URL}/pay/tok123/orders/o1"}
    return await rig.sandbox.handle(httpx.Request("POST", SHEET, data=form, headers={"Cookie": cookie}))


# -- the paySign ----------------------------------------------------------------------------------


def test_the_pay_sign_message_is_four_lines_each_ending_in_a_newline() -> None:
    message = jsapi.pay_sign_message(
        "wx8888888888888888", "1414561699", "5K8264ILTKCH16CQ", "prepay_id=wx2014"
    )
    assert message == b"wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ\nprepay_id=wx2014\n"


def test_the_pay_sign_verifies_with_the_merchant_public_key() -> None:
    params = jsapi.bridge_params(rsa_key("merchant"), "wxAPP", "prepay_id=wx2024", "1700000000", "NONCE1")
    assert jsapi.check_bridge_params(rsa_key("merchant").public_key(), params) is None


def test_a_pay_sign_by_another_key_does_not_verify() -> None:
    params = jsapi.bridge_params(rsa_key("other"), "wxAPP", "prepay_id=wx2024", "1700000000", "NONCE1")
    assert "支付验证签名失败" in (jsapi.check_bridge_params(rsa_key("merchant").public_key(), params) or "")


def test_a_changed_package_no_longer_verifies() -> None:
    params = jsapi.bridge_params(rsa_key("merchant"), "wxAPP", "prepay_id=wx2024", "1700000000", "NONCE1")
    params["package"] = "prepay_id=wx2025"
    assert jsapi.check_bridge_params(rsa_key("merchant").public_key(), params) is not None


def test_the_bridge_gets_the_six_parameters_with_the_time_as_a_string() -> None:
    params = jsapi.bridge_params(rsa_key("merchant"), "wxAPP", "prepay_id=wx2024", "1700000000", "NONCE1")
    assert list(params) == ["appId", "timeStamp", "nonceStr", "package", "signType", "paySign"]
    assert (params["timeStamp"], params["signType"]) == ("1700000000", "RSA")


def test_only_a_prepay_package_counts_as_a_bridge_reference() -> None:
    assert jsapi.prepay_id_of("prepay_id=wx201410272009395522657a690389285100") == (
        "wx201410272009395522657a690389285100"
    )
    assert jsapi.prepay_id_of("20240101120000") is None  # a bank card txnTime, say
    assert jsapi.prepay_id_of("prepay_id=") is None


# -- the JSAPI order --------------------------------------------------------------------------------


async def test_the_client_offers_in_app_payment_when_the_app_secret_is_set(rig: Rig) -> None:
    assert isinstance(rig.provider, InAppPayments)
    assert rig.provider.in_app_ready()


async def test_without_the_app_secret_in_app_payment_is_off(rig: Rig) -> None:
    config = dataclasses.replace(rig.config, official_account_secret="")
    assert not rig.provider_via(config=config).in_app_ready()


async def test_the_in_app_scene_makes_a_jsapi_order_and_a_bridge_action(rig: Rig) -> None:
    action, _, _ = await _jsapi_order(rig)
    assert action.kind == "bridge"
    assert action.provider_ref.startswith("prepay_id=wx") and len(action.provider_ref) <= 64
    assert action.fields["package"] == action.provider_ref
    assert action.fields["appId"] == rig.config.jsapi_appid
    assert jsapi.check_bridge_params(rsa_key("merchant").public_key(), action.fields) is None
    assert rig.sandbox.orders[NO].trade_type == "JSAPI"


async def test_the_jsapi_request_is_signed_like_every_v3_call(rig: Rig) -> None:
    openid, _ = await rig.openid()
    request = dataclasses.replace(order_request(NO), scene=Scene.IN_APP, payer_id=openid)
    await rig.provider_via().create_order(request)
    sent = rig.seen[-1]
    assert sent.url.path == f"{PREFIX}/v3/pay/transactions/jsapi"
    assert _verifies_as_merchant(sent, sent.url.raw_path.decode(), sent.content)
    body = json.loads(sent.content)
    assert body["payer"] == {"openid": openid}
    assert "scene_info" not in body


async def test_the_sandbox_refuses_a_jsapi_order_signed_with_another_key(rig: Rig) -> None:
    openid, _ = await rig.openid()
    body = {
        "appid": rig.config.appid, "mchid": rig.config.mchid, "description": "还款", "out_trade_no": NO,
        "notify_url": f"{BASE_URL}/notify/wechatpay", "amount": {"total": 100, "currency": "CNY"},
        "payer": {"openid": openid},
    }  # fmt: skip
    answer = await _signed_call(
        rig, "POST", jsapi.PATH_JSAPI, json.dumps(body).encode(), key=rsa_key("other")
    )
    assert (answer.status_code, answer.json()["code"]) == (401, "SIGN_ERROR")


async def test_the_sandbox_refuses_a_jsapi_order_without_a_payer(rig: Rig) -> None:
    body = {
        "appid": rig.config.appid, "mchid": rig.config.mchid, "description": "还款", "out_trade_no": NO,
        "notify_url": f"{BASE_URL}/notify/wechatpay", "amount": {"total": 100, "currency": "CNY"},
    }  # fmt: skip
    answer = await _signed_call(rig, "POST", jsapi.PATH_JSAPI, json.dumps(body).encode())
    assert (answer.status_code, answer.json()["code"]) == (400, "PARAM_ERROR")
    assert "payer.openid" in answer.json()["message"]


async def test_the_sandbox_refuses_an_openid_it_never_issued(rig: Rig) -> None:
    request = dataclasses.replace(
        order_request(NO), scene=Scene.IN_APP, payer_id="oMadeUp0000000000000000000000"
    )
    with pytest.raises(ProviderError) as err:
        await rig.provider.create_order(request)
    assert err.value.code == "PARAM_ERROR" and "openid" in err.value.detail


async def test_an_in_app_order_without_an_openid_is_refused_before_the_call(rig: Rig) -> None:
    request = dataclasses.replace(order_request(NO), scene=Scene.IN_APP)
    with pytest.raises(ProviderError, match="openid"):
        await rig.provider_via().create_order(request)
    assert rig.seen == []


def test_the_openid_is_kept_out_of_the_order_requests_repr() -> None:
    request = dataclasses.replace(order_request(NO), scene=Scene.IN_APP, payer_id="oSecret123")
    assert "oSecret123" not in repr(request)


async def test_repeating_a_jsapi_order_answers_the_same_prepay_id(rig: Rig) -> None:
    openid, _ = await rig.openid()
    request = dataclasses.replace(order_request(NO), scene=Scene.IN_APP, payer_id=openid)
    first, second = await rig.provider.create_order(request), await rig.provider.create_order(request)
    assert first.provider_ref == second.provider_ref


async def test_bridge_params_are_signed_afresh_from_the_reference(rig: Rig) -> None:
    action, _, _ = await _jsapi_order(rig)
    again = rig.provider.bridge_params(action.provider_ref)
    assert again is not None and again["package"] == action.provider_ref
    assert again["nonceStr"] != action.fields["nonceStr"]
    assert jsapi.check_bridge_params(rsa_key("merchant").public_key(), again) is None
    assert rig.provider.bridge_params("") is None


# -- web OAuth: the authorize URL and the code exchange -----------------------------------------------


def test_the_authorize_url_has_wechats_parameter_order_and_fragment() -> None:
    back = "https://pay.example.cn/pay/t/in-app/wechatpay?x=1"
    url = oauth.authorize_url("https://open.weixin.qq.com/connect/oauth2/authorize", "wxAPP", back, "abc123")
    assert url == (
        "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxAPP"
        "&redirect_uri=https%3A%2F%2Fpay.example.cn%2Fpay%2Ft%2Fin-app%2Fwechatpay%3Fx%3D1"
        "&response_type=code&scope=snsapi_base&state=abc123#wechat_redirect"
    )


def test_a_state_wechat_would_mangle_is_refused() -> None:
    with pytest.raises(ValueError):
        oauth.authorize_url(
            "https://open.weixin.qq.com/connect/oauth2/authorize", "wxAPP", "https://a/b", "a-b"
        )


async def test_a_code_is_exchanged_for_the_payers_openid(rig: Rig) -> None:
    code, _ = await rig.oauth_code()
    openid = await rig.provider.payer_id_for_code(code)
    assert openid.startswith("o") and len(openid) == 28
    assert rig.sandbox.oauth.knows(openid, rig.config.jsapi_appid)


async def test_one_browser_gets_the_same_openid_each_time(rig: Rig) -> None:
    first, cookie = await rig.oauth_code()
    second, _ = await rig.oauth_code(cookie)
    assert await rig.provider.payer_id_for_code(first) == await rig.provider.payer_id_for_code(second)


async def test_a_used_code_is_refused_with_40163(rig: Rig) -> None:
    code, _ = await rig.oauth_code()
    await rig.provider.payer_id_for_code(code)
    with pytest.raises(ProviderError) as err:
        await rig.provider.payer_id_for_code(code)
    assert (err.value.code, err.value.retryable) == ("OAUTH_40163", False)


async def test_an_expired_code_is_refused_with_42003(rig: Rig) -> None:
    code, _ = await rig.oauth_code()
    rig.sandbox.oauth.clock = lambda: time.time() + oauth.CODE_TTL_SECONDS + 1
    with pytest.raises(ProviderError) as err:
        await rig.provider.payer_id_for_code(code)
    assert err.value.code == "OAUTH_42003"


async def test_an_unknown_code_is_refused_with_40029(rig: Rig) -> None:
    with pytest.raises(ProviderError) as err:
        await rig.provider.payer_id_for_code("NotACodeTheSandboxIssued")
    assert err.value.code == "OAUTH_40029"


async def test_a_wrong_app_secret_is_refused_with_40125(rig: Rig) -> None:
    code, _ = await rig.oauth_code()
    config = dataclasses.replace(rig.config, official_account_secret="0" * 32)
    with pytest.raises(ProviderError) as err:
        await rig.provider_via(config=config).payer_id_for_code(code)
    assert err.value.code == "OAUTH_40125"


async def test_a_code_is_bound_to_the_appid_it_was_issued_for(rig: Rig) -> None:
    code, _ = await rig.oauth_code()
    config = dataclasses.replace(rig.config, official_account_appid="wxAnotherAccount000")
    with pytest.raises(ProviderError) as err:
        await rig.provider_via(config=config).payer_id_for_code(code)
    assert err.value.code == "OAUTH_40013"


@pytest.mark.parametrize(
    ("raw", "errcode"),
    [
        (b'{"errcode":40029,"errmsg":"invalid code"}', 40029),
        (b'{"errcode":-1,"errmsg":"system error"}', -1),
        (b'{"access_token":"T","expires_in":7200,"scope":"snsapi_base"}', 0),
        (b"<html>bad gateway</html>", 0),
        (b"[]", 0),
    ],
)
def test_an_answer_without_an_openid_raises_oauth_refused(raw: bytes, errcode: int) -> None:
    with pytest.raises(oauth.OAuthRefused) as err:
        oauth.openid_from_answer(raw)
    assert err.value.errcode == errcode


def test_system_busy_is_the_retryable_refusal() -> None:
    assert oauth.RETRYABLE == {oauth.ERR_SYSTEM_BUSY}


async def test_the_exchange_leaves_neither_secret_nor_code_in_the_log(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    code, _ = await rig.oauth_code()
    with caplog.at_level(logging.DEBUG):
        openid = await rig.provider.payer_id_for_code(code)
    assert "access_token" in caplog.text  # httpx did log the request, scrubbed
    for secret in (code, rig.config.official_account_secret, openid):
        assert secret not in caplog.text


async def test_the_sandbox_authorize_refuses_a_redirect_to_another_host(rig: Rig) -> None:
    url = rig.provider.payer_auth_url("https://evil.example/steal", "S1")
    answer = await rig.sandbox.handle(httpx.Request("GET", url))
    assert answer.status_code == 400 and "10003" in answer.text
    assert rig.sandbox.oauth.codes == {}


async def test_the_sandbox_authorize_refuses_an_unknown_appid(rig: Rig) -> None:
    config = dataclasses.replace(rig.config, official_account_appid="wxAnotherAccount000")
    url = rig.provider_via(config=config).payer_auth_url(f"{BASE_URL}/pay/t/in-app/wechatpay", "S1")
    answer = await rig.sandbox.handle(httpx.Request("GET", url))
    assert answer.status_code == 400 and "10016" in answer.text


# -- the sandbox's pay sheet, opened by its bridge stand-in ------------------------------------------


async def test_the_bridge_stand_in_script_is_served_as_javascript(rig: Rig) -> None:
    answer = await rig.sandbox.handle(httpx.Request("GET", BASE_URL + rig.sandbox.bridge_script_url))
    assert answer.headers["Content-Type"].startswith("text/javascript")
    assert "getBrandWCPayRequest" in answer.text and "WeixinJSBridgeReady" in answer.text


async def test_the_sheet_shows_the_cashier_for_a_verified_call(rig: Rig) -> None:
    action, _, cookie = await _jsapi_order(rig)
    answer = await _open_sheet(rig, dict(action.fields), cookie)
    assert answer.status_code == 200, answer.text
    assert "paySign verified" in answer.text and 'name="outcome" value="pay"' in answer.text


async def test_the_sheet_refuses_a_tampered_pay_sign(rig: Rig) -> None:
    action, _, cookie = await _jsapi_order(rig)
    params = dict(action.fields)
    params["paySign"] = jsapi.bridge_params(
        rsa_key("other"), params["appId"], params["package"], params["timeStamp"], params["nonceStr"]
    )["paySign"]
    answer = await _open_sheet(rig, params, cookie)
    assert answer.status_code == 400 and "支付验证签名失败" in answer.text


async def test_the_sheet_refuses_another_wechat_user(rig: Rig) -> None:
    action, _, _ = await _jsapi_order(rig)
    _, stranger = await rig.oauth_code()  # a browser of its own, so another user
    answer = await _open_sheet(rig, dict(action.fields), stranger)
    assert answer.status_code == 400 and "不是下单用户" in answer.text


async def test_the_sheet_refuses_an_unknown_prepay_id(rig: Rig) -> None:
    _, _, cookie = await _jsapi_order(rig)
    params = jsapi.bridge_params(
        rsa_key("merchant"), rig.config.appid, "prepay_id=wxUnknown", "1700000000", "N"
    )
    answer = await _open_sheet(rig, params, cookie)
    assert answer.status_code == 400 and "prepay_id" in answer.text


async def test_paying_on_the_sheet_notifies_with_the_orders_payer(rig: Rig) -> None:
    action, openid, cookie = await _jsapi_order(rig)
    await _open_sheet(rig, dict(action.fields), cookie)
    token = rig.sandbox.orders[NO].token
    answer = await rig.sandbox.handle(
        httpx.Request(
            "POST", f"{BASE_URL}{PREFIX}/cashier/{token}", data={"outcome": "pay", "redirect_url": ""}
        )
    )
    assert answer.status_code == 303
    await rig.sandbox.sender.drain()
    event = rig.parse(rig.notifications[-1])
    assert (event.out_trade_no, event.status.value) == (NO, "success")
    assert rig.sandbox.orders[NO].payments[0].openid == openid


async def test_a_notification_under_the_official_account_appid_is_ours(rig: Rig) -> None:
    # JSAPI orders carry the official account's appid; with a separate one configured it must still pass.
    config = dataclasses.replace(rig.config, official_account_appid="wxOfficial0000001")
    headers, body = rig.sealed(rig.transaction(appid="wxOfficial0000001"))
    event = rig.provider_via(config=config).parse_notification(headers, body, datetime.now(UTC))
    assert event.fields["appid"] == "wxOfficial0000001"


async def test_a_notification_under_a_foreign_appid_is_still_refused(rig: Rig) -> None:
    config = dataclasses.replace(rig.config, official_account_appid="wxOfficial0000001")
    headers, body = rig.sealed(rig.transaction(appid="wxSomeoneElse00001"))
    with pytest.raises(NotificationRejected) as err:
        rig.provider_via(config=config).parse_notification(headers, body, datetime.now(UTC))
    assert err.value.reason is RejectReason.FOREIGN_MERCHANT


# -- configuration ------------------------------------------------------------------------------------


def _live(**changes: object) -> WechatPayConfig:
    base = dict(
        mode="live", mchid="1900000109", appid="wxd678efh567hg6787", merchant_serial_no="ABC123",
        merchant_private_key_pem=pem(rsa_key("merchant")), apiv3_key="k" * 32,
        platform_public_keys={"PUB_KEY_ID_01": b"-----BEGIN PUBLIC KEY-----"},
    )  # fmt: skip
    base.update(changes)
    return WechatPayConfig(**base)  # type: ignore[arg-type]


def test_live_mode_refuses_a_plain_http_oauth_api() -> None:
    with pytest.raises(ValueError, match="oauth_api_url"):
        _live(oauth_api_url="http://api.weixin.qq.com")


def test_the_official_account_appid_defaults_to_the_merchant_appid() -> None:
    assert _live().jsapi_appid == "wxd678efh567hg6787"
    assert _live(official_account_appid="wxOfficial0000001").jsapi_appid == "wxOfficial0000001"


def test_the_app_secret_is_kept_out_of_the_configs_repr() -> None:
    assert "S3cretS3cret" not in repr(_live(official_account_secret="S3cretS3cret"))


def test_live_settings_take_the_official_account_and_its_secret_from_a_file(tmp_path: Path) -> None:
    files = {"key.pem": pem(rsa_key("merchant")), "platform.pem": public(rsa_key("platform")),
             "secret.txt": b"0123456789abcdef0123456789abcdef\n"}  # fmt: skip
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    w = "PAYRECON_PROVIDERS__WECHATPAY__"
    settings = load_settings({
        "PAYRECON_MODE": "live", "PAYRECON_DATA_DIR": str(tmp_path),
        "PAYRECON_PROVIDERS__ALIPAY__ENABLED": "false", "PAYRECON_PROVIDERS__BANKCARD__ENABLED": "false",
        f"{w}MCHID": "1900000109", f"{w}APPID": "wxd678efh567hg6787", f"{w}MERCHANT_SERIAL_NO": "ABC123",
        f"{w}MERCHANT_PRIVATE_KEY_FILE": str(tmp_path / "key.pem"), f"{w}APIV3_KEY": "k" * 32,
        f"{w}PLATFORM_KEY_ID": "PUB_KEY_ID_0114232134912410000000000000",
        f"{w}PLATFORM_PUBLIC_KEY_FILE": str(tmp_path / "platform.pem"),
        f"{w}OFFICIAL_ACCOUNT_APPID": "wxOfficial0000001",
        f"{w}OFFICIAL_ACCOUNT_SECRET_FILE": str(tmp_path / "secret.txt"),
    })  # fmt: skip
    config = build_rails(settings).providers["wechatpay"].config  # type: ignore[attr-defined]
    assert (config.jsapi_appid, config.official_account_secret) == (
        "wxOfficial0000001",
        "0123456789abcdef0123456789abcdef",
    )
    assert (config.oauth_authorize_url, config.oauth_api_url) == (
        "https://open.weixin.qq.com/connect/oauth2/authorize",
        "https://api.weixin.qq.com",
    )
