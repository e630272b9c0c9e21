"""Alipay asynchronous notifications: verification, mapping, refusal reasons, acknowledgement."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime
from urllib.parse import quote, unquote_plus, urlencode

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from payments.domain.money import Money
from providers.alipay import crypto
from providers.alipay.client import decode_form
from providers.base import (
    BEIJING,
    ExpectedOrder,
    NotificationRejected,
    RefundRequest,
    RefundStatus,
    RejectReason,
    Scene,
    TxnStatus,
)
from tests.unit.providers.test_alipay_kit import (
    form,
    make_kit,
    payment_fields,
    platform_key,
    shared,
    signed_notification,
    stranger_key,
)

NOW = datetime(2024, 5, 1, 10, 0, 6, tzinfo=BEIJING)
HEADERS = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}


@pytest.fixture
async def kit():
    kit = make_kit()
    yield kit
    await kit.aclose()


def _reason(kit, body: bytes) -> RejectReason:
    with pytest.raises(NotificationRejected) as caught:
        kit.provider.parse_notification(HEADERS, body, NOW)
    return caught.value.reason


# ---- what the sandbox sends ------------------------------------------------------------------------


async def test_sandbox_payment_notification_parses_to_a_success_event(kit):
    await kit.provider.create_order(kit.order())
    (trade_no,) = await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()
    (body,) = kit.bodies()
    event = kit.provider.parse_notification(HEADERS, body, NOW)
    assert event.provider == "alipay" and event.kind == "payment"
    assert event.event_key == f"{trade_no}:TRADE_SUCCESS"
    assert (event.out_trade_no, event.provider_txn_id) == ("ORDER00001", trade_no)
    assert event.status is TxnStatus.SUCCESS
    assert event.amount == Money(12345)
    assert event.merchant_id == kit.config.app_id
    assert event.occurred_at is not None and event.occurred_at.tzinfo is BEIJING


async def test_sandbox_notification_is_a_utf8_form_post_to_the_notify_url(kit):
    await kit.provider.create_order(kit.order())
    await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()
    (request,) = kit.received
    assert request.method == "POST"
    assert str(request.url) == "http://127.0.0.1:8000/notify/alipay"
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    fields = form(request.content)
    assert fields["charset"] == "utf-8" and fields["sign_type"] == "RSA2"
    assert fields["notify_type"] == "trade_status_sync"
    # python-alipay-sdk would sign `k=` for empty values; Alipay's rule drops them, so none are sent.
    assert all(value for value in fields.values())


async def test_subject_with_plus_ampersand_and_chinese_survives_exactly_once_decoding(kit):
    await kit.provider.create_order(kit.order(subject="还款+测试 A&B=C 100%"))
    await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()
    (body,) = kit.bodies()
    assert b"%2B" in body
    event = kit.provider.parse_notification(HEADERS, body, NOW)
    assert event.fields["subject"] == "还款+测试 A&B=C 100%"


async def test_decoding_twice_would_corrupt_the_plus_and_fail_verification(kit):
    fields = payment_fields(kit.config)
    body = signed_notification(fields)
    once = decode_form(body)
    twice = {k: unquote_plus(v) for k, v in once.items()}
    public = platform_key().public_key()
    assert crypto.verify(public, crypto.notification_sign_content(once), once["sign"])
    assert not crypto.verify(public, crypto.notification_sign_content(twice), twice["sign"])


async def test_amount_is_total_amount_not_receipt_amount(kit):
    event = kit.provider.parse_notification(HEADERS, signed_notification(payment_fields(kit.config)), NOW)
    assert event.amount == Money(12345)
    assert event.fields["receipt_amount"] == "120.00"


@pytest.mark.parametrize(
    ("trade_status", "expected"),
    [
        ("TRADE_SUCCESS", TxnStatus.SUCCESS),
        ("TRADE_FINISHED", TxnStatus.SUCCESS),
        ("WAIT_BUYER_PAY", TxnStatus.PENDING),
        ("TRADE_CLOSED", TxnStatus.CLOSED),
    ],
)
async def test_trade_status_maps_to_txn_status(kit, trade_status, expected):
    body = signed_notification(payment_fields(kit.config, trade_status=trade_status))
    event = kit.provider.parse_notification(HEADERS, body, NOW)
    assert event.status is expected
    assert event.event_key == f"2024050122001400001234567890:{trade_status}"


async def test_refund_notification_is_a_refund_event_keyed_by_request_number(kit):
    action = await kit.provider.create_order(kit.order(scene=Scene.MOBILE))
    await kit.http.get(action.url)  # the WAP trade exists once the buyer's browser opens the link
    (trade_no,) = await kit.sandbox.pay("ORDER00001")
    await kit.sandbox.sender.drain()

    await kit.provider.refund(RefundRequest("ORDER00001", "RF00000001", Money(2345), Money(12345)))
    await kit.sandbox.sender.drain()
    _, refund_body = kit.bodies()
    event = kit.provider.parse_notification(HEADERS, refund_body, NOW)
    assert event.kind == "refund"
    assert event.event_key == f"{trade_no}:refund:RF00000001"
    assert event.refund_no == "RF00000001"
    assert event.status is RefundStatus.SUCCESS
    assert event.amount == Money(2345)
    assert event.occurred_at is not None


async def test_qr_orders_get_no_refund_notification(kit):
    await kit.provider.create_order(kit.order())
    await kit.sandbox.pay("ORDER00001")
    await kit.provider.refund(RefundRequest("ORDER00001", "RF00000001", Money(2345), Money(12345)))
    await kit.sandbox.sender.drain()
    assert len(kit.received) == 1


async def test_hand_built_refund_notification_uses_refund_fee(kit):
    fields = payment_fields(
        kit.config, out_biz_no="RF00000009", refund_fee="23.45", gmt_refund="2024-05-01 11:00:00.123"
    )
    event = kit.provider.parse_notification(HEADERS, signed_notification(fields), NOW)
    assert (event.kind, event.amount, event.refund_no) == ("refund", Money(2345), "RF00000009")
    assert event.occurred_at == datetime(2024, 5, 1, 11, 0, 0, 123000, tzinfo=BEIJING)


async def test_verified_fields_are_kept_for_audit_without_the_signature(kit):
    event = kit.provider.parse_notification(HEADERS, signed_notification(payment_fields(kit.config)), NOW)
    assert "sign" not in event.fields
    assert event.fields["notify_id"] == "2024050100222100005012345678901234"


async def test_a_notification_with_a_value_ending_in_spaces_verifies_untrimmed(kit):
    body = signed_notification(payment_fields(kit.config, body="trailing  "))
    event = kit.provider.parse_notification(HEADERS, body, NOW)
    assert event.fields["body"] == "trailing  "


async def test_empty_values_are_left_out_of_the_signed_content(kit):
    fields = payment_fields(kit.config)
    body = signed_notification(fields) + b"&passback_params="
    event = kit.provider.parse_notification(HEADERS, body, NOW)
    assert event.fields["passback_params"] == ""


async def test_gbk_notifications_decode_with_their_own_charset(kit):
    fields = payment_fields(kit.config, charset="gbk", subject="还款")
    signature = crypto.sign(platform_key(), crypto.notification_sign_content(fields), "gbk")
    body = urlencode({**fields, "sign_type": "RSA2", "sign": signature}, encoding="gbk").encode("ascii")
    event = kit.provider.parse_notification(HEADERS, body, NOW)
    assert event.fields["subject"] == "还款"


# ---- every refusal reason this rail produces --------------------------------------------------------


async def test_bad_signature_is_refused(kit):
    body = signed_notification(payment_fields(kit.config), key=stranger_key())
    assert _reason(kit, body) is RejectReason.BAD_SIGNATURE


async def test_altered_amount_is_refused_as_bad_signature(kit):
    body = signed_notification(payment_fields(kit.config)).replace(b"123.45", b"923.45")
    assert _reason(kit, body) is RejectReason.BAD_SIGNATURE


async def test_unsigned_notification_is_refused(kit):
    assert _reason(kit, urlencode(payment_fields(kit.config)).encode()) is RejectReason.BAD_SIGNATURE


@pytest.mark.parametrize("sign_type", ["RSA", "", "rsa2"])
async def test_sign_type_other_than_rsa2_is_refused(kit, sign_type):
    fields = form(signed_notification(payment_fields(kit.config)))
    fields["sign_type"] = sign_type
    assert _reason(kit, urlencode(fields).encode()) is RejectReason.BAD_SIGNATURE


async def test_signature_with_sign_type_inside_the_content_is_refused(kit):
    # A request-style signature (sign_type signed) is not a notification signature.
    fields = {**payment_fields(kit.config), "sign_type": "RSA2"}
    signature = crypto.sign(platform_key(), crypto.request_sign_content(fields))
    body = urlencode({**fields, "sign": signature}).encode()
    assert _reason(kit, body) is RejectReason.BAD_SIGNATURE


async def test_notification_for_another_app_is_foreign(kit):
    body = signed_notification(payment_fields(kit.config, app_id="2021000000009999"))
    assert _reason(kit, body) is RejectReason.FOREIGN_MERCHANT


async def test_notification_for_another_seller_is_foreign(kit):
    body = signed_notification(payment_fields(kit.config, seller_id="2088999999999999"))
    assert _reason(kit, body) is RejectReason.FOREIGN_MERCHANT


async def test_seller_is_not_checked_when_none_is_configured(kit):
    provider = kit.provider_with(seller_id="")
    body = signed_notification(payment_fields(kit.config, seller_id="2088999999999999"))
    assert provider.parse_notification(HEADERS, body, NOW).kind == "payment"


@pytest.mark.parametrize("missing", ["trade_no", "out_trade_no", "trade_status", "total_amount"])
async def test_signed_notification_missing_a_required_field_is_malformed(kit, missing):
    fields = payment_fields(kit.config)
    del fields[missing]
    assert _reason(kit, signed_notification(fields)) is RejectReason.MALFORMED


@pytest.mark.parametrize("amount", ["12.345", "-1.00", "1e3", "abc", "0.00"])
async def test_signed_notification_with_a_bad_amount_is_malformed(kit, amount):
    body = signed_notification(payment_fields(kit.config, total_amount=amount))
    assert _reason(kit, body) is RejectReason.MALFORMED


async def test_unknown_trade_status_is_malformed(kit):
    body = signed_notification(payment_fields(kit.config, trade_status="TRADE_PENDING"))
    assert _reason(kit, body) is RejectReason.MALFORMED


async def test_repeated_field_is_malformed(kit):
    body = signed_notification(payment_fields(kit.config)) + b"&total_amount=1.00"
    assert _reason(kit, body) is RejectReason.MALFORMED


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"not a form",
        b"a=%E9%9D",  # truncated UTF-8 sequence
        b"charset=ebcdic&a=1",
        b"&&&",
        "sign=é".encode("latin-1"),
        b"=" * 5000,
        b"&".join(b"k%d=v" % i for i in range(500)),
    ],
)
async def test_garbage_bodies_are_refused_as_malformed_or_unsigned(kit, body):
    assert _reason(kit, body) in (RejectReason.MALFORMED, RejectReason.BAD_SIGNATURE)


async def test_bad_base64_signature_is_refused(kit):
    fields = form(signed_notification(payment_fields(kit.config)))
    fields["sign"] = "%%%not-base64"
    assert _reason(kit, urlencode(fields).encode()) is RejectReason.BAD_SIGNATURE


async def test_sign_whose_plus_became_a_space_is_refused(kit):
    fields = payment_fields(kit.config)
    body = signed_notification(fields)
    # A framework that decoded the sign twice: every %2B in it arrives as a raw `+`, i.e. a space.
    head, _, sign = body.partition(b"&sign=")
    broken = head + b"&sign=" + sign.replace(b"%2B", b"+")
    if broken == body:
        pytest.skip("this signature happens to contain no '+'")
    assert _reason(kit, broken) is RejectReason.BAD_SIGNATURE


# ---- tampering: any byte flipped is refused -------------------------------------------------------


def _decoded(body: bytes) -> dict[str, str] | None:
    try:
        return decode_form(body)
    except NotificationRejected:
        return None


@pytest.fixture(scope="module")
def signed_body() -> bytes:
    config = shared()[0]
    return signed_notification(payment_fields(config, subject="还款+测试 A&B"))


@settings(
    derandomize=True,
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_flipping_any_byte_of_the_body_is_refused(signed_body, data):
    provider = shared()[1]
    index = data.draw(st.integers(0, len(signed_body) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="xor")
    flipped = bytearray(signed_body)
    flipped[index] ^= mask
    flipped_body = bytes(flipped)
    # Flips that leave the decoded fields identical (`%2B` -> `%2b`, `+` -> space) change nothing
    # that is signed or used; every flip that changes a field must be refused.
    assume(_decoded(flipped_body) != _decoded(signed_body))
    with pytest.raises(NotificationRejected):
        provider.parse_notification(HEADERS, flipped_body, NOW)


@settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_flipping_any_byte_of_the_signature_is_refused(signed_body, data):
    provider = shared()[1]
    fields = form(signed_body)
    raw = bytearray(base64.b64decode(fields["sign"]))
    index = data.draw(st.integers(0, len(raw) - 1), label="index")
    raw[index] ^= data.draw(st.integers(1, 255), label="xor")
    fields["sign"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(NotificationRejected) as caught:
        provider.parse_notification(HEADERS, urlencode(fields).encode(), NOW)
    assert caught.value.reason is RejectReason.BAD_SIGNATURE


@settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=st.binary(max_size=400))
def test_arbitrary_bytes_only_ever_raise_notification_rejected(signed_body, body):
    with pytest.raises(NotificationRejected):
        shared()[1].parse_notification(HEADERS, body, NOW)


# ---- business cross-check -------------------------------------------------------------------------


async def test_integrity_passes_for_our_order_and_amount(kit):
    event = kit.provider.parse_notification(HEADERS, signed_notification(payment_fields(kit.config)), NOW)
    kit.provider.check_integrity(event, ExpectedOrder("ORDER00001", Money(12345)))


async def test_integrity_refuses_a_different_amount(kit):
    event = kit.provider.parse_notification(HEADERS, signed_notification(payment_fields(kit.config)), NOW)
    with pytest.raises(NotificationRejected) as caught:
        kit.provider.check_integrity(event, ExpectedOrder("ORDER00001", Money(12344)))
    assert caught.value.reason is RejectReason.AMOUNT_MISMATCH


async def test_integrity_refuses_another_order(kit):
    event = kit.provider.parse_notification(HEADERS, signed_notification(payment_fields(kit.config)), NOW)
    with pytest.raises(NotificationRejected) as caught:
        kit.provider.check_integrity(event, ExpectedOrder("ORDER00002", Money(12345)))
    assert caught.value.reason is RejectReason.UNKNOWN_ORDER


async def test_integrity_refuses_another_currency(kit):
    event = kit.provider.parse_notification(HEADERS, signed_notification(payment_fields(kit.config)), NOW)
    # Money knows only CNY today; force a second currency to show the check is there for the day it lands.
    other = Money(12345)
    object.__setattr__(other, "currency", "USD")
    with pytest.raises(NotificationRejected) as caught:
        kit.provider.check_integrity(event, ExpectedOrder("ORDER00001", other))
    assert caught.value.reason is RejectReason.CURRENCY_MISMATCH


async def test_integrity_of_a_refund_bounds_it_by_the_order_total(kit):
    fields = payment_fields(kit.config, out_biz_no="RF00000009", refund_fee="23.45")
    event = kit.provider.parse_notification(HEADERS, signed_notification(fields), NOW)
    kit.provider.check_integrity(event, ExpectedOrder("ORDER00001", Money(12345)))
    with pytest.raises(NotificationRejected) as caught:
        kit.provider.check_integrity(
            replace(event, amount=Money(12346)), ExpectedOrder("ORDER00001", Money(12345))
        )
    assert caught.value.reason is RejectReason.AMOUNT_MISMATCH


async def test_sandbox_other_amount_payment_fails_the_integrity_check(kit):
    await kit.provider.create_order(kit.order())
    await kit.sandbox.pay("ORDER00001", "other_amount", Money(100))
    await kit.sandbox.sender.drain()
    event = kit.provider.parse_notification(HEADERS, kit.bodies()[0], NOW)
    assert event.amount == Money(100)
    with pytest.raises(NotificationRejected) as caught:
        kit.provider.check_integrity(event, ExpectedOrder("ORDER00001", Money(12345)))
    assert caught.value.reason is RejectReason.AMOUNT_MISMATCH


# ---- acknowledgement ------------------------------------------------------------------------------


async def test_ack_success_is_exactly_the_seven_bytes_success(kit):
    ack = kit.provider.ack_success()
    assert (ack.status_code, ack.body) == (200, b"success")


async def test_ack_failure_is_anything_but_success_so_alipay_retries(kit):
    ack = kit.provider.ack_failure("database down")
    assert ack.body != b"success"
    assert b"database" not in ack.body


def test_percent_quoting_helper_matches_form_encoding():
    # The tests above build bodies with urlencode; make sure that is quote_plus-style (%2B for '+').
    assert urlencode({"a": "+ /"}) == "a=" + quote("+", safe="") + "+%2F"


# ---- a change of Alipay's key ------------------------------------------------------------------------


def _pem(key) -> bytes:  # type: ignore[no-untyped-def]
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def test_during_a_key_change_a_notification_signed_with_the_previous_key_verifies(kit):
    # Alipay's new key is the stranger's; the sandbox platform key is the one being replaced.
    provider = kit.provider_with(
        alipay_public_key_pem=_pem(stranger_key()), previous_alipay_public_key_pem=_pem(platform_key())
    )
    body = signed_notification(payment_fields(kit.config))

    event = provider.parse_notification(HEADERS, body, NOW)

    assert event.out_trade_no == payment_fields(kit.config)["out_trade_no"]


async def test_during_a_key_change_a_notification_signed_with_the_new_key_verifies(kit):
    provider = kit.provider_with(
        alipay_public_key_pem=_pem(stranger_key()), previous_alipay_public_key_pem=_pem(platform_key())
    )
    body = signed_notification(payment_fields(kit.config), key=stranger_key())

    assert provider.parse_notification(HEADERS, body, NOW).kind == "payment"


async def test_once_the_previous_key_is_removed_its_signatures_are_refused(kit):
    provider = kit.provider_with(alipay_public_key_pem=_pem(stranger_key()))
    body = signed_notification(payment_fields(kit.config))

    with pytest.raises(NotificationRejected) as caught:
        provider.parse_notification(HEADERS, body, NOW)

    assert caught.value.reason is RejectReason.BAD_SIGNATURE
