"""Hypothesis on the three notification verifiers/parsers: raw headers + body in, a NotificationEvent or
a NotificationRejected out, and nothing else (providers/base.py: Provider.parse_notification).

Each parser also wraps itself in a last-resort `except Exception` that turns a surprise into
NotificationRejected(MALFORMED, "<exception type>"). That net keeps the contract, but a rejection that
came out of it means the parser's own checks missed something (a KeyError, an IndexError, ...). So the
properties are stricter than the contract: the rejection must come from the parser's own checks, never
from the net (`from_safety_net`).

Inputs: arbitrary bytes; valid notifications signed with the sandbox keys the unit tests use, then
mutated byte by byte (which the signature check refuses); and valid notifications whose fields were
changed *before* signing (re-signed), which get past the signature into the field parsing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers.alipay.client import AlipayProvider
from providers.bankcard import wire as bankcard_wire
from providers.bankcard.client import BankCardProvider
from providers.base import NotificationEvent, NotificationRejected
from providers.wechatpay import notification as wechatpay_notification
from providers.wechatpay.client import WechatPayProvider
from tests.fuzz.conftest import bounded
from tests.fuzz.mutations import ODD_TEXT, changed_fields, from_safety_net, mutated_bytes
from tests.unit.providers.test_alipay_kit import payment_fields, shared, signed_notification
from tests.unit.providers.test_bankcard_support import (  # noqa: F401 - fixtures are found by name
    bankcard_data_dir_fixture,
    fresh_sandbox,
)
from tests.unit.providers.test_wechatpay_rig import seal, transaction_resource, wiring

NOW = datetime.now(UTC)  # the bank card sandbox certificates are valid around now
EXAMPLES = 40


def outcome(
    parse: Callable[[dict[str, str], bytes, datetime], NotificationEvent],
    wrapper: Callable[..., Any],
    headers: dict[str, str],
    body: bytes,
) -> NotificationEvent | NotificationRejected:
    """The event or the rejection; any other exception propagates and fails the test."""
    try:
        return parse(headers, body, NOW)
    except NotificationRejected as exc:
        hidden = exc.__cause__ or exc.__context__
        assert not from_safety_net(exc, wrapper), f"only the safety net caught {hidden!r} for {body[:300]!r}"
        return exc


# -- Alipay: form POST, RSA2 over the sorted fields -------------------------------------------------------


@functools.cache
def _alipay() -> tuple[AlipayProvider, dict[str, str]]:
    config, provider, _, _ = shared()
    return provider, payment_fields(config)


def _alipay_outcome(body: bytes) -> NotificationEvent | NotificationRejected:
    provider, _ = _alipay()
    return outcome(provider.parse_notification, AlipayProvider.parse_notification, {}, body)


def test_alipay_the_valid_notification_parses():
    _, fields = _alipay()
    assert isinstance(_alipay_outcome(signed_notification(fields)), NotificationEvent)


@bounded(EXAMPLES)
@given(body=st.binary(max_size=600))
def test_alipay_arbitrary_bytes_are_a_typed_rejection(body: bytes) -> None:
    assert isinstance(_alipay_outcome(body), NotificationRejected)


@bounded(EXAMPLES)
@given(data=st.data())
def test_alipay_a_mutated_signed_body_is_an_event_or_a_typed_rejection(data: st.DataObject) -> None:
    _, fields = _alipay()
    _alipay_outcome(data.draw(mutated_bytes(signed_notification(fields))))


REFUND_EXTRA = {"out_biz_no": "RF00000001", "refund_fee": "23.45", "gmt_refund": "2024-05-01 11:30:00.123"}


@bounded(EXAMPLES * 2)
@given(
    data=st.data(), refund=st.booleans(), charset=st.sampled_from(["utf-8", "UTF-8", "gbk", "gb2312", "x"])
)
def test_alipay_resigned_odd_fields_are_an_event_or_a_typed_rejection(
    data: st.DataObject, refund: bool, charset: str
) -> None:
    _, fields = _alipay()
    base = {**fields, **(REFUND_EXTRA if refund else {}), "charset": charset}
    changed = data.draw(changed_fields(base, keep=frozenset({"sign", "sign_type"})))
    try:
        body = signed_notification(changed)
    except UnicodeEncodeError:
        return  # not representable as a form body (lone surrogates): nothing a provider could send
    _alipay_outcome(body)


# -- WeChat Pay: JSON envelope, AES-GCM resource, signature in the headers --------------------------------


@functools.cache
def _wechatpay() -> tuple[WechatPayProvider, dict[str, Any], Any]:
    config, keys, _ = wiring()
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(599)))  # never called
    return WechatPayProvider(config, http), keys, config


def _wechatpay_seal(
    resource: dict[str, Any], event_type: str = "TRANSACTION.SUCCESS"
) -> tuple[dict[str, str], bytes]:
    _, keys, config = _wechatpay()
    return seal(
        resource,
        key=keys["platform_key"],
        key_id=keys["platform_key_id"],
        apiv3_key=config.apiv3_key,
        event_type=event_type,
        original_type="refund" if event_type.startswith("REFUND") else "transaction",
        timestamp=int(NOW.timestamp()),
    )


def _wechatpay_refund_resource(config: Any) -> dict[str, Any]:
    return {
        "mchid": config.mchid,
        "out_trade_no": "ORDER20240001",
        "transaction_id": "4200002086202401162384712345",
        "out_refund_no": "REFUND2024001",
        "refund_id": "50300202401160000000000000001",
        "refund_status": "SUCCESS",
        "success_time": "2024-01-16T23:10:02+08:00",
        "user_received_account": "支付用户零钱",
        "amount": {"total": 12345, "refund": 2345, "payer_total": 12345, "payer_refund": 2345},
    }


def _wechatpay_outcome(headers: dict[str, str], body: bytes) -> NotificationEvent | NotificationRejected:
    provider, _, _ = _wechatpay()
    return outcome(provider.parse_notification, wechatpay_notification.parse_notification, headers, body)


def test_wechatpay_the_valid_notifications_parse():
    _, _, config = _wechatpay()
    for resource, event_type in (
        (transaction_resource(config), "TRANSACTION.SUCCESS"),
        (_wechatpay_refund_resource(config), "REFUND.SUCCESS"),
    ):
        assert isinstance(_wechatpay_outcome(*_wechatpay_seal(resource, event_type)), NotificationEvent)


_WECHAT_HEADERS = st.sampled_from(
    [
        "Wechatpay-Timestamp",
        "Wechatpay-Nonce",
        "Wechatpay-Signature",
        "Wechatpay-Serial",
        "Wechatpay-Signature-Type",
    ]
)


@bounded(EXAMPLES)
@given(headers=st.dictionaries(_WECHAT_HEADERS, ODD_TEXT), body=st.binary(max_size=600))
def test_wechatpay_arbitrary_headers_and_bytes_are_a_typed_rejection(
    headers: dict[str, str], body: bytes
) -> None:
    assert isinstance(_wechatpay_outcome(headers, body), NotificationRejected)


@bounded(EXAMPLES)
@given(data=st.data())
def test_wechatpay_a_mutated_body_or_header_is_an_event_or_a_typed_rejection(data: st.DataObject) -> None:
    _, _, config = _wechatpay()
    headers, body = _wechatpay_seal(transaction_resource(config))
    if data.draw(st.booleans(), label="mutate a header"):
        name = data.draw(st.sampled_from(sorted(headers)), label="header")
        if data.draw(st.booleans(), label="drop"):
            headers = {k: v for k, v in headers.items() if k != name}
        else:
            headers = {**headers, name: data.draw(ODD_TEXT, label="value")}
    else:
        body = data.draw(mutated_bytes(body), label="body")
    _wechatpay_outcome(headers, body)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def _changed_json(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 3))):
        target = out
        if "amount" in out and isinstance(out["amount"], dict) and draw(st.booleans()):
            target = out["amount"]
        names = sorted(target)
        if names and draw(st.booleans()):
            target[draw(st.sampled_from(names))] = draw(JSON_VALUES)
        elif names and draw(st.booleans()):
            target.pop(draw(st.sampled_from(names)))
        else:
            target[draw(st.text(max_size=10))] = draw(JSON_VALUES)
    return out


@bounded(EXAMPLES * 2)
@given(
    data=st.data(),
    refund=st.booleans(),
    event_type=st.one_of(
        st.sampled_from(["TRANSACTION.SUCCESS", "REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED"]),
        ODD_TEXT,
    ),
)
def test_wechatpay_resealed_odd_resources_are_an_event_or_a_typed_rejection(
    data: st.DataObject, refund: bool, event_type: str
) -> None:
    _, _, config = _wechatpay()
    base = _wechatpay_refund_resource(config) if refund else transaction_resource(config)
    resource = data.draw(_changed_json(base))
    try:
        headers, body = _wechatpay_seal(resource, event_type)
    except (UnicodeEncodeError, ValueError):
        return  # not representable (lone surrogates, non-ASCII header text): nothing WeChat could send
    _wechatpay_outcome(headers, body)


# -- Bank card (UnionPay ACP): form POST signed with a certificate it carries ------------------------------

BANKCARD_NOTICE = {
    "version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "txnType": "01", "txnSubType": "01",
    "bizType": "000201", "accessType": "0", "orderId": "ORDER20250001", "txnTime": "20250101120000",
    "txnAmt": "1234", "currencyCode": "156", "queryId": "202501011200000000001", "respCode": "00",
    "respMsg": "成功[0000000]", "traceTime": "0101120005", "accNo": "621661******0018",
}  # fmt: skip
BANKCARD_SIGNING = frozenset({"signature", "signPubKeyCert", "certId", "version", "signMethod"})


@pytest.fixture(scope="module")
def bankcard(
    bankcard_data_dir: Path,
) -> tuple[BankCardProvider, Callable[[dict[str, str]], dict[str, str]], dict[str, str]]:
    config, sandbox = fresh_sandbox(bankcard_data_dir, httpx.AsyncClient)
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(599)))  # never called
    provider = BankCardProvider(config, http)
    return provider, sandbox.gateway.sign, {**BANKCARD_NOTICE, "merId": config.mer_id}


def _bankcard_outcome(provider: BankCardProvider, body: bytes) -> NotificationEvent | NotificationRejected:
    return outcome(provider.parse_notification, BankCardProvider.parse_notification, {}, body)


def test_bankcard_the_valid_notification_parses(bankcard):  # type: ignore[no-untyped-def]
    provider, sign, notice = bankcard
    body = bankcard_wire.encode_form(sign(notice))
    assert isinstance(_bankcard_outcome(provider, body), NotificationEvent)


@bounded(EXAMPLES)
@given(body=st.binary(max_size=600))
def test_bankcard_arbitrary_bytes_are_a_typed_rejection(bankcard, body: bytes) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(_bankcard_outcome(bankcard[0], body), NotificationRejected)


@bounded(EXAMPLES)
@given(data=st.data())
def test_bankcard_a_mutated_signed_body_is_an_event_or_a_typed_rejection(
    bankcard, data: st.DataObject
) -> None:  # type: ignore[no-untyped-def]
    provider, sign, notice = bankcard
    _bankcard_outcome(provider, data.draw(mutated_bytes(bankcard_wire.encode_form(sign(notice)))))


@bounded(EXAMPLES * 2)
@given(data=st.data(), refund=st.booleans())
def test_bankcard_resigned_odd_fields_are_an_event_or_a_typed_rejection(
    bankcard, data: st.DataObject, refund: bool
) -> None:  # type: ignore[no-untyped-def]
    provider, sign, notice = bankcard
    if refund:
        notice = {
            **notice,
            "txnType": "04",
            "origQryId": "202501011200000000001",
            "reqReserved": "ORDER20250001",
        }
    changed = data.draw(changed_fields(notice, keep=BANKCARD_SIGNING))
    try:
        body = bankcard_wire.encode_form(sign(changed))
    except (UnicodeEncodeError, ValueError):
        return  # not representable as a form body: nothing UnionPay could send
    _bankcard_outcome(provider, body)
