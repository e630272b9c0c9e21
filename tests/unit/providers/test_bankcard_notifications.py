"""Back notifications: verification, mapping to NotificationEvent, every RejectReason, the ack."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from payments.domain.money import Money
from providers.bankcard import sandbox_pki, wire
from providers.bankcard.crypto import sign_fields
from providers.base import (
    ExpectedOrder,
    NotificationRejected,
    RefundStatus,
    RejectReason,
    TxnStatus,
)
from tests.unit.providers.test_bankcard_support import (  # noqa: F401 - fixtures are found by name
    Env,
    OtherChain,
    bankcard_data_dir_fixture,
    env_fixture,
    open_order,
    other_chain_fixture,
)

NOW = datetime.now(UTC)


def notice(env: Env, **changes: str | None) -> dict[str, str]:
    fields: dict[str, str | None] = {
        "version": "5.1.0",
        "encoding": "UTF-8",
        "signMethod": "01",
        "txnType": "01",
        "txnSubType": "01",
        "bizType": "000201",
        "accessType": "0",
        "merId": env.config.mer_id,
        "orderId": "ORDER20250001",
        "txnTime": "20250101120000",
        "txnAmt": "1234",
        "currencyCode": "156",
        "queryId": "202501011200000000001",
        "respCode": "00",
        "respMsg": "成功[0000000]",
        "traceNo": "000001",
        "traceTime": "0101120000",
        "accNo": "621661******0018",
        "payCardType": "01",
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def body_of(env: Env, **changes: str | None) -> bytes:
    return env.sandbox.gateway.notification_body(notice(env, **changes))


def rejected(env: Env, body: bytes) -> RejectReason:
    with pytest.raises(NotificationRejected) as caught:
        env.provider.parse_notification({}, body, NOW)
    return caught.value.reason


# -- accepted ------------------------------------------------------------------------------------


async def test_sandbox_payment_notification_parses_to_a_success_event(env: Env) -> None:
    await open_order(env, "ORDER20250001", 1234)
    await env.sandbox.pay("ORDER20250001")
    await env.sandbox.sender.drain()
    (request,) = env.recorder.requests
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    event = env.provider.parse_notification(dict(request.headers), request.content, datetime.now(UTC))
    payment = env.sandbox.orders["ORDER20250001"].payments[0]
    assert (event.provider, event.kind, event.status) == ("bankcard", "payment", TxnStatus.SUCCESS)
    assert (event.out_trade_no, event.amount, event.merchant_id) == (
        "ORDER20250001", Money(1234), env.config.mer_id,
    )  # fmt: skip
    assert event.provider_txn_id == payment.query_id
    assert event.event_key == f"{payment.query_id}:success"


def test_notification_fields_never_hold_the_card_number_or_signature_material(env: Env) -> None:
    event = env.provider.parse_notification({}, body_of(env), NOW)
    assert "accNo" not in event.fields
    assert not {"signature", "signPubKeyCert", "certId"} & set(event.fields)
    assert "621661" not in repr(event)


def test_resp_code_a6_counts_as_success(env: Env) -> None:
    event = env.provider.parse_notification({}, body_of(env, respCode="A6"), NOW)
    assert event.status is TxnStatus.SUCCESS


def test_other_resp_codes_are_failed_with_their_own_event_key(env: Env) -> None:
    event = env.provider.parse_notification({}, body_of(env, respCode="01"), NOW)
    assert event.status is TxnStatus.FAILED
    assert event.event_key == "202501011200000000001:failed"


def test_occurred_at_is_unionpays_trace_time_in_the_year_of_the_order(env: Env) -> None:
    body = body_of(env, txnTime="20241231235000", traceTime="0101000500")
    event = env.provider.parse_notification({}, body, NOW)
    assert event.occurred_at == datetime(2024, 12, 31, 16, 5, tzinfo=UTC)  # 2025-01-01 00:05 Beijing


def test_occurred_at_falls_back_to_txn_time_without_a_usable_trace_time(env: Env) -> None:
    event = env.provider.parse_notification({}, body_of(env, traceTime="99"), NOW)
    assert event.occurred_at == datetime(2025, 1, 1, 4, 0, tzinfo=UTC)


def test_refund_notification_carries_refund_no_order_and_amount(env: Env) -> None:
    body = body_of(
        env,
        txnType="04",
        txnSubType="00",
        orderId="REFUND20250001",
        txnAmt="200",
        queryId="202501021200000000009",
        origQryId="202501011200000000001",
        reqReserved="ORDER20250001",
        accNo=None,
    )
    event = env.provider.parse_notification({}, body, NOW)
    assert (event.kind, event.status, event.refund_no) == ("refund", RefundStatus.SUCCESS, "REFUND20250001")
    assert (event.out_trade_no, event.amount) == ("ORDER20250001", Money(200))
    assert event.event_key == "202501021200000000009:success"
    assert event.fields["origQryId"] == "202501011200000000001"


def test_values_with_plus_and_spaces_verify_because_the_body_is_decoded_once(env: Env) -> None:
    body = body_of(env, respMsg="a+b c%d", reqReserved="x+y")
    assert b"%2B" in body and b"+" in body  # '+' escaped, space as '+'
    event = env.provider.parse_notification({}, body, NOW)
    assert event.fields["respMsg"] == "a+b c%d"


# -- every RejectReason this rail produces --------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00\xff\xfe garbage", b"not a form", "respCode=00".encode("utf-16"), b"a=1&a=2"],
    ids=["empty", "binary", "no-pairs", "utf16", "repeated-key"],
)
def test_unparseable_bodies_are_malformed(env: Env, body: bytes) -> None:
    assert rejected(env, body) is RejectReason.MALFORMED


def test_missing_signature_is_malformed(env: Env) -> None:
    fields = env.sandbox.gateway.sign(notice(env))
    del fields["signature"]
    assert rejected(env, wire.encode_form(fields)) is RejectReason.MALFORMED


def test_signed_notification_without_query_id_is_malformed(env: Env) -> None:
    assert rejected(env, body_of(env, queryId=None)) is RejectReason.MALFORMED


def test_unsupported_txn_type_is_malformed(env: Env) -> None:
    assert rejected(env, body_of(env, txnType="31")) is RejectReason.MALFORMED


def test_a_changed_amount_is_a_bad_signature(env: Env) -> None:
    body = body_of(env).replace(b"txnAmt=1234", b"txnAmt=1235")
    assert rejected(env, body) is RejectReason.BAD_SIGNATURE


def test_a_signature_that_is_not_base64_is_a_bad_signature(env: Env) -> None:
    fields = env.sandbox.gateway.sign(notice(env))
    fields["signature"] = "!!" + fields["signature"][2:]
    assert rejected(env, wire.encode_form(fields)) is RejectReason.BAD_SIGNATURE


def test_a_certificate_from_another_chain_is_an_unknown_key(env: Env, other_chain: OtherChain) -> None:
    chain, key = other_chain
    fields = {**notice(env), "signPubKeyCert": sandbox_pki.cert_pem(chain.signing).decode("ascii")}
    assert rejected(env, wire.encode_form(sign_fields(fields, key, None))) is RejectReason.UNKNOWN_KEY


def test_an_expired_chain_is_an_unknown_key(env: Env) -> None:
    later = datetime(2100, 1, 1, tzinfo=UTC)
    with pytest.raises(NotificationRejected) as caught:
        env.provider.parse_notification({}, body_of(env), later)
    assert caught.value.reason is RejectReason.UNKNOWN_KEY


def test_a_garbage_certificate_is_an_unknown_key(env: Env) -> None:
    fields = {**notice(env), "signPubKeyCert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"}
    fields["signature"] = "AAAA"
    assert rejected(env, wire.encode_form(fields)) is RejectReason.UNKNOWN_KEY


def test_version_5_0_0_is_an_unknown_key(env: Env) -> None:
    assert rejected(env, body_of(env, version="5.0.0")) is RejectReason.UNKNOWN_KEY


def test_another_merchant_id_is_a_foreign_merchant(env: Env) -> None:
    assert rejected(env, body_of(env, merId="777000000000999")) is RejectReason.FOREIGN_MERCHANT


def test_a_foreign_currency_is_a_currency_mismatch(env: Env) -> None:
    assert rejected(env, body_of(env, currencyCode="840")) is RejectReason.CURRENCY_MISMATCH


def test_integrity_refuses_another_order(env: Env) -> None:
    event = env.provider.parse_notification({}, body_of(env), NOW)
    with pytest.raises(NotificationRejected) as caught:
        env.provider.check_integrity(event, ExpectedOrder("ORDER20259999", Money(1234)))
    assert caught.value.reason is RejectReason.UNKNOWN_ORDER


def test_integrity_refuses_another_amount(env: Env) -> None:
    event = env.provider.parse_notification({}, body_of(env), NOW)
    with pytest.raises(NotificationRejected) as caught:
        env.provider.check_integrity(event, ExpectedOrder("ORDER20250001", Money(1200)))
    assert caught.value.reason is RejectReason.AMOUNT_MISMATCH


def test_integrity_accepts_the_expected_order(env: Env) -> None:
    event = env.provider.parse_notification({}, body_of(env), NOW)
    env.provider.check_integrity(event, ExpectedOrder("ORDER20250001", Money(1234)))


def test_integrity_refuses_a_refund_above_the_order_total(env: Env) -> None:
    body = body_of(env, txnType="04", orderId="REFUND20250001", origQryId="1", reqReserved="ORDER20250001")
    event = env.provider.parse_notification({}, body, NOW)
    with pytest.raises(NotificationRejected) as caught:
        env.provider.check_integrity(event, ExpectedOrder("ORDER20250001", Money(1000)))
    assert caught.value.reason is RejectReason.AMOUNT_MISMATCH


def test_percent_encoded_garbage_inside_a_value_is_still_only_a_rejection(env: Env) -> None:
    body = body_of(env) + b"&respMsg2=" + quote("x").encode() + b"%ff%fe"
    assert rejected(env, body) is RejectReason.MALFORMED


# -- acknowledgement -----------------------------------------------------------------------------


def test_ack_success_is_http_200_ok(env: Env) -> None:
    ack = env.provider.ack_success()
    assert (ack.status_code, ack.body) == (200, b"ok")


def test_ack_failure_is_http_500(env: Env) -> None:
    ack = env.provider.ack_failure("database down")
    assert ack.status_code == 500 and b"database" not in ack.body
