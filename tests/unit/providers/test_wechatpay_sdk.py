"""Cross-check against the public SDK wechatpayv3 (test-only dependency; skipped when absent).

The SDK's own signing and verification must agree with ours in both directions: it signs our
client's requests to the same signature, it verifies the sandbox's answers and callbacks, its callback
decrypts what the sandbox seals, and our parser accepts what SDK-style signing produces. The SDK is
run in public-key mode with Wechatpay-Serial equal to the configured id, with a PKCS#8 key, and its
gateway pointed at a loopback stand-in for the sandbox, so nothing reaches the network
(providers.md pitfalls 15-17).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from payments.domain.money import Money
from providers.base import RefundRequest, TxnStatus
from providers.wechatpay import crypto, jsapi
from tests.unit.providers.test_wechatpay_rig import (
    BASE_URL,
    Rig,
    open_rig,
    order_request,
    pem,
    public,
    rsa_key,
)

wechatpayv3 = pytest.importorskip("wechatpayv3")
from wechatpayv3.core import Core  # noqa: E402
from wechatpayv3.type import RequestType  # noqa: E402
from wechatpayv3.utils import build_authorization, load_private_key, rsa_sign, rsa_verify  # noqa: E402

NO = "ORDER20240001"
NO_PROXY = {"http": None, "https": None}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with open_rig(tmp_path) as r:
        yield r


def _core(rig: Rig) -> Core:
    return Core(
        mchid=rig.config.mchid,
        cert_serial_no=rig.config.merchant_serial_no,
        private_key=pem(rsa_key("merchant")).decode(),
        apiv3_key=rig.config.apiv3_key,
        public_key=public(rig.sandbox.platform_key).decode(),
        public_key_id=rig.sandbox.platform_key_id,
        proxy=NO_PROXY,
        timeout=10,
    )


def _pairs(header: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


# -- requests: our client signs what the SDK would ----------------------------------------------


async def test_the_sdk_signs_our_clients_request_to_the_same_signature(rig: Rig) -> None:
    await rig.provider_via().create_order(order_request(NO))
    request = rig.seen[-1]
    ours = _pairs(request.headers["Authorization"])
    path = request.url.raw_path.decode()
    sdk = _pairs(
        build_authorization(
            path,
            "POST",
            rig.config.mchid,
            rig.config.merchant_serial_no,
            load_private_key(pem(rsa_key("merchant")).decode()),
            data=request.content.decode(),
            nonce_str=ours["nonce_str"],
        )
    )
    # PKCS#1 v1.5 is deterministic: equal signatures mean equal signed bytes. The SDK stamps its own
    # time, so ours is recomputed for that second.
    message = crypto.request_message("POST", path, sdk["timestamp"], ours["nonce_str"], request.content)
    assert crypto.sign(rsa_key("merchant"), message) == sdk["signature"]
    if sdk["timestamp"] == ours["timestamp"]:
        assert ours["signature"] == sdk["signature"]


async def test_the_sdk_signs_a_get_with_a_query_like_our_client(rig: Rig) -> None:
    await rig.order()
    await rig.provider_via().query_order(NO)
    request = rig.seen[-1]
    ours = _pairs(request.headers["Authorization"])
    path = request.url.raw_path.decode()
    assert path.endswith(f"?mchid={rig.config.mchid}")
    sdk = _pairs(
        build_authorization(
            path,
            "GET",
            rig.config.mchid,
            rig.config.merchant_serial_no,
            load_private_key(pem(rsa_key("merchant")).decode()),
            nonce_str=ours["nonce_str"],
        )
    )
    message = crypto.request_message("GET", path, sdk["timestamp"], ours["nonce_str"], b"")
    assert crypto.sign(rsa_key("merchant"), message) == sdk["signature"]


# -- answers and callbacks: the SDK verifies what the sandbox signs --------------------------------


async def test_the_sdk_verifies_a_sandbox_answer(rig: Rig) -> None:
    await rig.provider_via().create_order(order_request(NO))
    answer = await rig.sandbox.handle(rig.seen[-1])
    headers = answer.headers
    assert rsa_verify(
        headers["Wechatpay-Timestamp"],
        headers["Wechatpay-Nonce"],
        answer.text,
        headers["Wechatpay-Signature"],
        rig.sandbox.platform_key.public_key(),
    )


async def test_the_sdk_callback_verifies_and_decrypts_a_sandbox_notification(rig: Rig) -> None:
    await rig.paid()
    request = rig.notifications[0]
    result = _core(rig).callback(dict(request.headers), request.content)
    ours = rig.parse(request)
    assert result is not None
    assert result["event_type"] == "TRANSACTION.SUCCESS"
    assert result["resource"]["transaction_id"] == ours.provider_txn_id
    assert result["resource"]["amount"]["total"] == ours.amount.fen


async def test_the_sdk_callback_decrypts_a_sandbox_refund_notification(rig: Rig) -> None:
    await rig.paid()
    await rig.provider.refund(RefundRequest(NO, "REFUND2024001", Money(345), Money(12345)))
    await rig.sandbox.sender.drain()
    request = rig.notifications[-1]
    result = _core(rig).callback(dict(request.headers), request.content)
    assert result is not None
    assert result["resource"]["out_refund_no"] == "REFUND2024001"
    assert result["resource"]["refund_status"] == "SUCCESS"


# -- our parser accepts what SDK-style signing produces -------------------------------------------


async def test_our_parser_accepts_a_notification_signed_the_sdk_way(rig: Rig) -> None:
    nonce, timestamp, event_nonce = "fdasflkjfsd2", str(int(time.time())), "A1B2C3D4E5"
    resource = rig.transaction()
    sealed = AESGCM(rig.config.apiv3_key.encode()).encrypt(
        nonce.encode(), json.dumps(resource).encode(), b"transaction"
    )
    body = json.dumps({
        "id": "EV-2018022511223320873",
        "create_time": "2024-01-16T22:43:59+08:00",
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(sealed).decode(),
            "associated_data": "transaction",
            "nonce": nonce,
        },
    })  # fmt: skip
    headers = {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": event_nonce,
        "Wechatpay-Signature": rsa_sign(rig.sandbox.platform_key, f"{timestamp}\n{event_nonce}\n{body}\n"),
        "Wechatpay-Serial": rig.sandbox.platform_key_id,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    assert _core(rig).callback(headers, body) is not None  # the SDK agrees it is genuine
    event = rig.provider.parse_notification(headers, body.encode(), datetime.now(UTC))
    assert (event.provider_txn_id, event.status) == (resource["transaction_id"], TxnStatus.SUCCESS)


async def test_the_sdk_accepts_an_hour_old_notification_that_we_refuse(rig: Rig) -> None:
    # Why the service checks the timestamp itself: wechatpayv3 2.0.4 does not (providers.md 2.3).
    headers, body = rig.sealed(rig.transaction(), timestamp=int(time.time()) - 3600)
    assert _core(rig).callback(headers, body) is not None
    with pytest.raises(Exception, match="stale_timestamp"):
        rig.provider.parse_notification(headers, body, datetime.now(UTC))


# -- the SDK's own HTTP calls, against the sandbox on a loopback port ----------------------------


@pytest.fixture
async def loopback(rig: Rig) -> AsyncIterator[str]:
    """An HTTP front for the sandbox on 127.0.0.1, for the SDK's blocking `requests` calls."""
    loop = asyncio.get_running_loop()
    skip = {"host", "content-length", "transfer-encoding", "connection"}

    class Front(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
            request = httpx.Request(self.command, BASE_URL + self.path, headers=headers, content=body)
            answer = asyncio.run_coroutine_threadsafe(rig.sandbox.handle(request), loop).result(10)
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in skip:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = _serve

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Front)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_the_sdk_orders_queries_and_closes_through_the_sandbox(rig: Rig, loopback: str) -> None:
    core = _core(rig)
    core._gate_way = loopback  # the SDK's gateway setting; the sandbox lives under its prefix
    prefix = "/sandbox/wechatpay"
    order = {
        "appid": rig.config.appid,
        "mchid": rig.config.mchid,
        "description": "还款",
        "out_trade_no": NO,
        "notify_url": "http://127.0.0.1:8000/notify/wechatpay",
        "amount": {"total": 100, "currency": "CNY"},
    }
    # Core.request raises when the answer's signature does not verify, so each 2xx below is verified.
    code, text = await asyncio.to_thread(
        core.request, f"{prefix}/v3/pay/transactions/native", RequestType.POST, order
    )
    assert code == 200 and json.loads(text)["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    query = f"{prefix}/v3/pay/transactions/out-trade-no/{NO}?mchid={rig.config.mchid}"
    code, text = await asyncio.to_thread(core.request, query)
    assert code == 200 and json.loads(text)["trade_state"] == "NOTPAY"
    close = f"{prefix}/v3/pay/transactions/out-trade-no/{NO}/close"
    code, _ = await asyncio.to_thread(core.request, close, RequestType.POST, {"mchid": rig.config.mchid})
    assert code == 204  # an empty answer, signed over an empty body line
    assert (await rig.provider.query_order(NO)).status is TxnStatus.CLOSED


# -- JSAPI: the page's paySign and the order ------------------------------------------------------


async def test_the_sdk_signs_the_bridge_parameters_to_our_pay_sign(rig: Rig) -> None:
    params = jsapi.bridge_params(
        rsa_key("merchant"), rig.config.appid, "prepay_id=wx201410272009395522657a690389285100",
        "1414561699", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    )  # fmt: skip
    sdk = _core(rig).sign([params["appId"], params["timeStamp"], params["nonceStr"], params["package"]])
    assert sdk == params["paySign"]


async def test_the_sdk_places_a_jsapi_order_the_sandbox_accepts(rig: Rig, loopback: str) -> None:
    openid, _ = await rig.openid()
    core = _core(rig)
    core._gate_way = loopback
    order = {
        "appid": rig.config.appid,
        "mchid": rig.config.mchid,
        "description": "还款",
        "out_trade_no": NO,
        "notify_url": "http://127.0.0.1:8000/notify/wechatpay",
        "amount": {"total": 100, "currency": "CNY"},
        "payer": {"openid": openid},
    }
    code, text = await asyncio.to_thread(
        core.request, "/sandbox/wechatpay/v3/pay/transactions/jsapi", RequestType.POST, order
    )
    assert code == 200, text
    package = jsapi.package_for(json.loads(text)["prepay_id"])
    signed = {
        "appId": rig.config.appid,
        "timeStamp": str(int(time.time())),
        "nonceStr": "N0NCE",
        "package": package,
    }
    signed |= {"signType": "RSA", "paySign": core.sign(list(signed.values()))}
    assert jsapi.check_bridge_params(rig.sandbox.merchant_public_key, signed) is None
