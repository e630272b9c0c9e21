"""The event bodies: a versioned tagged union, an example of each type, ids and amounts only."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from payments.outbox.events import EVENT_TYPES, EXAMPLES, WebhookEvent, json_schema, render

AT = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)
ISSUE_TYPES = {
    "payment.received",
    "payment.matched",
    "payment.unmatched",
    "payment.refunded",
    "case.updated",
    "case.closed",
    "link.created",
    "link.expired",
    "reconciliation.exception",
    "reconciliation.day_closed",
}


def test_every_event_type_of_the_issue_is_defined_with_an_example():
    assert set(EVENT_TYPES) == ISSUE_TYPES == set(EXAMPLES)


@pytest.mark.parametrize("event_type", sorted(ISSUE_TYPES))
def test_each_example_decodes_back_as_its_own_type(event_type):
    body = msgspec.json.encode(EXAMPLES[event_type])
    decoded = msgspec.json.decode(body, type=WebhookEvent)
    assert (decoded, msgspec.json.decode(body)["type"]) == (EXAMPLES[event_type], event_type)


def test_the_schema_is_a_oneof_discriminated_by_type():
    schema = json_schema()
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == ISSUE_TYPES


def test_an_outbox_payload_renders_the_envelope():
    body = render("case.closed", "evt_1", AT, {"case_id": "case_1", "status": "paid"})
    assert msgspec.json.decode(body) == {
        "type": "case.closed",
        "id": "evt_1",
        "version": 1,
        "timestamp": "2026-11-28T06:30:00Z",
        "data": {"case_id": "case_1", "status": "paid"},
    }


def test_payload_keys_the_event_does_not_declare_never_leave():
    body = render(
        "case.closed", "evt_1", AT, {"case_id": "case_1", "status": "paid", "debtor_name": "张小三"}
    )
    assert b"debtor_name" not in body and "张小三".encode() not in body


def test_a_payment_received_payload_from_recording_renders():
    payload = {
        "payment_id": "pay_1",
        "order_id": "ord_1",
        "case_id": "case_1",
        "provider": "wechatpay",
        "amount_fen": 12_345,
        "currency": "CNY",
        "source": "notification",
        "status": "unmatched",
        "received_at": "2026-11-28T06:30:00+00:00",
    }
    body = msgspec.json.decode(render("payment.received", "evt_1", AT, payload))
    assert body["data"]["amount_fen"] == 12_345 and body["data"]["received_at"] == "2026-11-28T06:30:00Z"


def test_an_event_type_no_webhook_carries_renders_nothing():
    assert render("link.revoked", "evt_1", AT, {"link_id": "lnk_1"}) is None


def test_a_payload_that_does_not_fit_renders_nothing():
    assert render("case.closed", "evt_1", AT, {"status": "paid"}) is None
