"""Property tests: no single changed byte of a signed notification gets through, and no input at all
makes parse_notification raise anything but NotificationRejected."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.base import NotificationRejected
from providers.wechatpay.client import WechatPayProvider
from tests.unit.providers.test_wechatpay_rig import seal, transaction_resource, wiring

# Derandomised so a failure reproduces on every run and machine.
PROPERTY = settings(max_examples=300, derandomize=True, deadline=None)
NOW = datetime(2024, 1, 16, 14, 43, 59, tzinfo=UTC)


@functools.cache
def _provider() -> WechatPayProvider:
    config, _, _ = wiring()
    # No call reaches the network: parse_notification never uses the client.
    return WechatPayProvider(
        config, httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(599)))
    )


@functools.cache
def _signed() -> tuple[dict[str, str], bytes]:
    config, keys, _ = wiring()
    return seal(
        transaction_resource(config),
        key=keys["platform_key"],
        key_id=keys["platform_key_id"],
        apiv3_key=config.apiv3_key,
        timestamp=int(NOW.timestamp()),
    )


def _refused(headers: dict[str, str], body: bytes) -> bool:
    try:
        _provider().parse_notification(headers, body, NOW)
    except NotificationRejected:
        return True
    return False


def test_the_untouched_notification_is_accepted() -> None:
    headers, body = _signed()
    assert not _refused(headers, body)


@PROPERTY
@given(data=st.data())
def test_flipping_any_body_byte_is_refused(data: st.DataObject) -> None:
    headers, body = _signed()
    index = data.draw(st.integers(0, len(body) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    flipped = bytearray(body)
    flipped[index] ^= mask
    assert _refused(headers, bytes(flipped))


@PROPERTY
@given(data=st.data())
def test_flipping_any_signature_byte_is_refused(data: st.DataObject) -> None:
    headers, body = _signed()
    signature = headers["Wechatpay-Signature"].encode()
    index = data.draw(st.integers(0, len(signature) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    flipped = bytearray(signature)
    flipped[index] ^= mask
    changed = {**headers, "Wechatpay-Signature": flipped.decode("latin-1")}
    assert _refused(changed, body)


_HEADER_NAMES = st.sampled_from(
    ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial",
     "Wechatpay-Signature-Type", "wechatpay-serial", "Content-Type"]
)  # fmt: skip


@PROPERTY
@given(headers=st.dictionaries(_HEADER_NAMES, st.text(max_size=40)), body=st.binary(max_size=300))
def test_arbitrary_input_is_only_ever_refused(headers: dict[str, str], body: bytes) -> None:
    assert _refused(headers, body)


@PROPERTY
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_under_genuine_headers_are_only_ever_refused(body: bytes) -> None:
    headers, _ = _signed()
    assert _refused(headers, body)
