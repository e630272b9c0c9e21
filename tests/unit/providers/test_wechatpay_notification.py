"""parse_notification (providers.md 2.3-2.5) and check_integrity: what is accepted, and every
RejectReason the WeChat rail can produce."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from payments.domain.money import Money
from providers.base import (
    ExpectedOrder,
    NotificationRejected,
    RefundRequest,
    RefundStatus,
    RejectReason,
    TxnStatus,
)
from providers.wechatpay import crypto
from providers.wechatpay.client import WechatPayProvider
from tests.unit.providers.test_wechatpay_rig import Rig, open_rig, public, rsa_key

NO = "ORDER20240001"


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with open_rig(tmp_path) as r:
        yield r


def _reason(rig: Rig, headers: dict[str, str], body: bytes, now: datetime | None = None) -> RejectReason:
    with pytest.raises(NotificationRejected) as info:
        rig.provider.parse_notification(headers, body, now or datetime.now(UTC))
    return info.value.reason


# -- accepted ------------------------------------------------------------------------------------


async def test_a_sandbox_payment_notification_becomes_a_payment_event(rig: Rig) -> None:
    await rig.paid()
    event = rig.parse(rig.notifications[0])
    txn_id = rig.sandbox.orders[NO].payments[0].transaction_id
    assert (event.provider, event.kind, event.status) == ("wechatpay", "payment", TxnStatus.SUCCESS)
    assert event.event_key == f"{txn_id}:SUCCESS"
    assert (event.out_trade_no, event.provider_txn_id, event.amount) == (NO, txn_id, Money(12345))
    assert event.merchant_id == rig.config.mchid
    assert event.occurred_at is not None and event.occurred_at.utcoffset() == timedelta(hours=8)


async def test_the_sandbox_sends_the_headers_wechat_sends(rig: Rig) -> None:
    await rig.paid()
    request = rig.notifications[0]
    assert request.headers["Wechatpay-Serial"] == rig.sandbox.platform_key_id
    assert request.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    resource = json.loads(request.content)["resource"]
    assert (resource["associated_data"], resource["algorithm"]) == ("transaction", "AEAD_AES_256_GCM")
    assert len(resource["nonce"].encode()) == 12


async def test_a_refund_success_notification_becomes_a_refund_event(rig: Rig) -> None:
    await rig.paid()
    await rig.provider.refund(RefundRequest(NO, "REFUND2024001", Money(345), Money(12345)))
    await rig.sandbox.sender.drain()
    event = rig.parse(rig.notifications[-1])
    refund = rig.sandbox.refunds["REFUND2024001"]
    assert json.loads(rig.notifications[-1].content)["resource"]["associated_data"] == "refund"
    assert (event.kind, event.status, event.refund_no) == ("refund", RefundStatus.SUCCESS, "REFUND2024001")
    assert event.event_key == f"{refund.refund_id}:SUCCESS"
    assert event.amount == Money(345)


@pytest.mark.parametrize("status", ["ABNORMAL", "CLOSED"])
async def test_abnormal_and_closed_refund_notifications_mean_the_refund_failed(
    tmp_path: Path, status: str
) -> None:
    async with open_rig(tmp_path, auto_settle_refunds=False) as rig:
        await rig.paid()
        await rig.provider.refund(RefundRequest(NO, "REFUND2024001", Money(345), Money(12345)))
        await rig.sandbox.settle_refund("REFUND2024001", status)
        await rig.sandbox.sender.drain()
        event = rig.parse(rig.notifications[-1])
    assert json.loads(rig.notifications[-1].content)["event_type"] == f"REFUND.{status}"
    assert event.status is RefundStatus.FAILED
    assert event.event_key.endswith(f":{status}")


async def test_header_names_match_in_any_case(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction())
    upper = {name.upper(): value for name, value in headers.items()}
    lower = {name.lower(): value for name, value in headers.items()}
    assert rig.provider.parse_notification(upper, body, datetime.now(UTC)).kind == "payment"
    assert rig.provider.parse_notification(lower, body, datetime.now(UTC)).kind == "payment"


async def test_a_missing_signature_type_header_is_taken_as_the_only_scheme(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction())
    del headers["Wechatpay-Signature-Type"]
    assert rig.provider.parse_notification(headers, body, datetime.now(UTC)).kind == "payment"


async def test_a_notification_299_seconds_old_is_accepted(rig: Rig) -> None:
    now = datetime.now(UTC)
    headers, body = rig.sealed(rig.transaction(), timestamp=int(now.timestamp()) - 299)
    assert rig.provider.parse_notification(headers, body, now).kind == "payment"


async def test_keys_can_rotate_with_both_ids_configured(rig: Rig) -> None:
    new_id = "PUB_KEY_ID_0199999999999999999999999999"
    keys = {**rig.config.platform_public_keys, new_id: public(rsa_key("rotated"))}
    provider = WechatPayProvider(dataclasses.replace(rig.config, platform_public_keys=keys), rig.http)
    old = rig.sealed(rig.transaction())
    new = rig.sealed(rig.transaction(), key=rsa_key("rotated"), key_id=new_id)
    for headers, body in (old, new):
        assert provider.parse_notification(headers, body, datetime.now(UTC)).kind == "payment"


def _certificate(serial: int) -> bytes:
    key = rsa_key("certificate-mode")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "WeChat Pay test platform CA")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(Encoding.PEM)


async def test_certificate_mode_serials_match_regardless_of_case_and_leading_zeros(rig: Rig) -> None:
    serial = 0x5157F09EFDC096DE15EBE81A47057A72
    keys = {**rig.config.platform_public_keys, "005157f09efdc096de15ebe81a47057a72": _certificate(serial)}
    provider = WechatPayProvider(dataclasses.replace(rig.config, platform_public_keys=keys), rig.http)
    headers, body = rig.sealed(rig.transaction(), key=rsa_key("certificate-mode"), key_id=f"{serial:X}")
    assert provider.parse_notification(headers, body, datetime.now(UTC)).kind == "payment"
    # The public-key id still goes to the public key, never through the certificate path (pitfall 15).
    headers, body = rig.sealed(rig.transaction())
    assert provider.parse_notification(headers, body, datetime.now(UTC)).kind == "payment"


# -- refused -------------------------------------------------------------------------------------


async def test_a_notification_301_seconds_old_is_refused_as_stale(rig: Rig) -> None:
    now = datetime.now(UTC)
    headers, body = rig.sealed(rig.transaction(), timestamp=int(now.timestamp()) - 301)
    assert _reason(rig, headers, body, now) is RejectReason.STALE_TIMESTAMP


async def test_a_notification_exactly_300_seconds_off_is_refused(rig: Rig) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    headers, body = rig.sealed(rig.transaction(), timestamp=int(now.timestamp()) + 300)
    assert _reason(rig, headers, body, now) is RejectReason.STALE_TIMESTAMP


async def test_the_timestamp_is_checked_before_the_signature(rig: Rig) -> None:
    now = datetime.now(UTC)
    headers, body = rig.sealed(rig.transaction(), timestamp=int(now.timestamp()) - 3600)
    headers["Wechatpay-Signature"] = "AAAA"
    assert _reason(rig, headers, body, now) is RejectReason.STALE_TIMESTAMP


async def test_an_unknown_serial_is_refused_as_unknown_key(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction(), key_id="PUB_KEY_ID_0100000000000000000000000000")
    assert _reason(rig, headers, body) is RejectReason.UNKNOWN_KEY


async def test_a_signature_by_another_key_under_our_serial_is_a_bad_signature(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction(), key=rsa_key("intruder"))
    assert _reason(rig, headers, body) is RejectReason.BAD_SIGNATURE


async def test_a_re_serialised_body_fails_verification(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction())
    reserialised = json.dumps(json.loads(body)).encode()  # what a framework's parsed body would give
    assert _reason(rig, headers, reserialised) is RejectReason.BAD_SIGNATURE


async def test_a_wrong_apiv3_key_is_a_decrypt_failure(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction(), apiv3_key="x" * 32)
    assert _reason(rig, headers, body) is RejectReason.DECRYPT_FAILED


async def test_changed_associated_data_is_a_decrypt_failure(rig: Rig) -> None:
    _, body = rig.sealed(rig.transaction())
    envelope = json.loads(body)
    envelope["resource"]["associated_data"] = "refund"
    body = json.dumps(envelope).encode()
    headers = crypto.signed_headers(
        rig.sandbox.platform_key, rig.sandbox.platform_key_id, body, str(int(datetime.now(UTC).timestamp()))
    )
    assert _reason(rig, headers, body) is RejectReason.DECRYPT_FAILED


async def test_another_merchants_mchid_is_refused(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction(mchid="1230000109"))
    assert _reason(rig, headers, body) is RejectReason.FOREIGN_MERCHANT


async def test_another_apps_appid_is_refused(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction(appid="wx0000000000000000"))
    assert _reason(rig, headers, body) is RejectReason.FOREIGN_MERCHANT


async def test_a_refund_for_another_merchant_is_refused(rig: Rig) -> None:
    refund = {
        "mchid": "1230000109", "out_trade_no": NO, "transaction_id": "4200002086202401162384712345",
        "out_refund_no": "REFUND2024001", "refund_id": "50300202401160000000000000001",
        "refund_status": "SUCCESS",
        "amount": {"total": 12345, "refund": 345, "payer_total": 12345, "payer_refund": 345},
    }  # fmt: skip
    headers, body = rig.sealed(refund, event_type="REFUND.SUCCESS", original_type="refund")
    assert _reason(rig, headers, body) is RejectReason.FOREIGN_MERCHANT


async def test_an_unsupported_currency_is_a_currency_mismatch(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction(amount={"total": 100, "currency": "USD"}))
    assert _reason(rig, headers, body) is RejectReason.CURRENCY_MISMATCH


async def test_missing_signature_headers_are_malformed(rig: Rig) -> None:
    _, body = rig.sealed(rig.transaction())
    assert _reason(rig, {}, body) is RejectReason.MALFORMED


async def test_another_signature_type_is_malformed(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction())
    headers["Wechatpay-Signature-Type"] = "WECHATPAY2-SM2-WITH-SM3"
    assert _reason(rig, headers, body) is RejectReason.MALFORMED


async def test_a_non_numeric_timestamp_is_malformed(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction())
    headers["Wechatpay-Timestamp"] = "1e9"
    assert _reason(rig, headers, body) is RejectReason.MALFORMED


async def test_a_signed_body_that_is_not_json_is_malformed(rig: Rig) -> None:
    body = b"\xff\xfenot json"
    headers = crypto.signed_headers(
        rig.sandbox.platform_key, rig.sandbox.platform_key_id, body, str(int(datetime.now(UTC).timestamp()))
    )
    assert _reason(rig, headers, body) is RejectReason.MALFORMED


async def test_a_resource_without_transaction_id_is_malformed(rig: Rig) -> None:
    resource = rig.transaction()
    del resource["transaction_id"]
    headers, body = rig.sealed(resource)
    assert _reason(rig, headers, body) is RejectReason.MALFORMED


async def test_a_float_amount_is_malformed(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction(amount={"total": 123.45, "currency": "CNY"}))
    assert _reason(rig, headers, body) is RejectReason.MALFORMED


async def test_an_unknown_trade_state_is_malformed(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction(trade_state="PAID"))
    assert _reason(rig, headers, body) is RejectReason.MALFORMED


async def test_an_unknown_event_type_is_malformed(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction(), event_type="MCHTRANSFER.BILL.FINISHED")
    assert _reason(rig, headers, body) is RejectReason.MALFORMED


async def test_a_body_that_is_not_bytes_is_malformed(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction())
    assert _reason(rig, headers, body.decode()) is RejectReason.MALFORMED  # type: ignore[arg-type]


# -- check_integrity -----------------------------------------------------------------------------


async def test_a_matching_payment_passes_the_integrity_check(rig: Rig) -> None:
    await rig.paid()
    rig.provider.check_integrity(rig.parse(rig.notifications[0]), ExpectedOrder(NO, Money(12345)))


async def test_a_payment_of_a_different_amount_fails_the_integrity_check(rig: Rig) -> None:
    await rig.order()
    await rig.sandbox.pay(NO, "different_amount", amount=100)
    await rig.sandbox.sender.drain()
    event = rig.parse(rig.notifications[0])
    with pytest.raises(NotificationRejected) as info:
        rig.provider.check_integrity(event, ExpectedOrder(NO, Money(12345)))
    assert info.value.reason is RejectReason.AMOUNT_MISMATCH


async def test_a_notification_for_another_order_fails_the_integrity_check(rig: Rig) -> None:
    await rig.paid()
    with pytest.raises(NotificationRejected) as info:
        rig.provider.check_integrity(
            rig.parse(rig.notifications[0]), ExpectedOrder("ORDER20249999", Money(12345))
        )
    assert info.value.reason is RejectReason.UNKNOWN_ORDER


async def test_a_refund_against_another_order_total_fails_the_integrity_check(rig: Rig) -> None:
    await rig.paid()
    await rig.provider.refund(RefundRequest(NO, "REFUND2024001", Money(345), Money(12345)))
    await rig.sandbox.sender.drain()
    event = rig.parse(rig.notifications[-1])
    rig.provider.check_integrity(event, ExpectedOrder(NO, Money(12345)))
    with pytest.raises(NotificationRejected) as info:
        rig.provider.check_integrity(event, ExpectedOrder(NO, Money(300)))
    assert info.value.reason is RejectReason.AMOUNT_MISMATCH


async def test_a_notification_can_be_parsed_from_httpx_headers(rig: Rig) -> None:
    headers, body = rig.sealed(rig.transaction())
    assert rig.provider.parse_notification(httpx.Headers(headers), body, datetime.now(UTC)).kind == "payment"
