"""Notifications that must change nothing: forged, for someone else's order or merchant, or too old."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import httpx
import pytest

from payments.services.notifications import NotificationService
from tests.api.conftest import assert_no_plain_pii
from tests.integration.conftest import (
    RAILS,
    assert_failure_ack,
    copy_order,
    deliver,
    foreign_sandbox,
    inbox_of,
    lower_headers,
    new_case,
    order_row,
    order_unknown_to_us,
    pay_at_provider,
    payments_of,
    start_order,
)

# Where each rail carries a value a forger would change: the amount (Alipay, UnionPay), or, since
# WeChat's amount is sealed inside the resource, the event id.
_FORGEABLE = {
    "alipay": re.compile(rb"total_amount=([0-9])"),
    "wechatpay": re.compile(rb'"id":"EV-([0-9])'),
    "bankcard": re.compile(rb"txnAmt=([0-9])"),
}
# Where each rail's signature travels in a form body.
_SIGNATURE_FIELD = {
    "alipay": re.compile(rb"(?:^|&)sign=([^&]+)"),
    "bankcard": re.compile(rb"(?:^|&)signature=([^&]+)"),
}


def flip_a_value_byte(rail: str, body: bytes) -> bytes:
    """Flip the low bit of one digit the signature covers (a digit stays a digit: the body still parses)."""
    match = _FORGEABLE[rail].search(body)
    assert match is not None, body[:200]
    at = match.start(1)
    return body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :]


def _flip_letter(text: bytes, start: int) -> bytes:
    """Swap the case of the first base64 letter at or after `start` that is not part of a %XX escape."""
    for i in range(start, len(text)):
        c = text[i : i + 1]
        if c.isalpha() and b"%" not in text[max(i - 2, 0) : i]:
            return text[:i] + c.swapcase() + text[i + 1 :]
    raise AssertionError("no letter to flip")


def flip_a_signature_byte(rail: str, request: httpx.Request) -> tuple[bytes, dict[str, str]]:
    """The request's body and headers with one byte of its signature changed, everything else as sent."""
    body, headers = request.content, dict(request.headers)
    if rail == "wechatpay":
        signature = headers["wechatpay-signature"].encode()
        headers["wechatpay-signature"] = _flip_letter(signature, len(signature) // 2).decode()
        return body, headers
    value = _SIGNATURE_FIELD[rail].search(body)
    assert value is not None, body[:200]
    return _flip_letter(body, (value.start(1) + value.end(1)) // 2), headers


def refusal_reasons(caplog, rail: str) -> list[str]:
    """The reasons the security log gave for the notifications of `rail` it refused."""
    return [
        getattr(r, "reason", "")
        for r in caplog.records
        if r.name == "payrecon.security" and getattr(r, "provider", None) == rail
    ]


async def _nothing_stored(services, rail: str, out_trade_no: str) -> None:
    assert await payments_of(services, out_trade_no) == []
    assert await inbox_of(services, rail, out_trade_no) == []


@pytest.mark.parametrize("rail", RAILS)
async def test_forged_body_gets_failure_ack_and_stores_nothing(client, services, tenant, rail, hold, caplog):
    held = hold(rail)
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    request = held.deliveries[0].build()
    caplog.set_level(logging.WARNING, logger="payrecon.security")

    resp = await client.post(
        f"/notify/{rail}", content=flip_a_value_byte(rail, request.content), headers=dict(request.headers)
    )

    assert_failure_ack(rail, resp)
    assert refusal_reasons(caplog, rail) == ["bad_signature"]
    await _nothing_stored(services, rail, order.out_trade_no)
    row = await order_row(services, order.out_trade_no)
    assert row is not None and row.status == "pending"


@pytest.mark.parametrize("rail", RAILS)
async def test_forged_body_is_logged_as_a_security_warning_without_personal_data(
    client, services, tenant, rail, hold, caplog
):
    held = hold(rail)
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    request = held.deliveries[0].build()
    forged = flip_a_value_byte(rail, request.content)
    caplog.set_level(logging.INFO)

    await client.post(f"/notify/{rail}", content=forged, headers=dict(request.headers))

    warnings = [r for r in caplog.records if r.name == "payrecon.security" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    [warning] = warnings
    assert getattr(warning, "reason", None) == "bad_signature"
    assert getattr(warning, "provider", None) == rail
    logged = warning.getMessage() + " " + repr(vars(warning))
    assert_no_plain_pii(logged)
    for personal in _payer_data(services, rail, order.out_trade_no):
        assert personal not in logged
    assert forged.decode("utf-8", "replace") not in logged  # never the body itself


def _payer_data(services, rail: str, out_trade_no: str) -> list[str]:
    """What the provider knows about the payer: the buyer's account, openid, card number."""
    sandbox = services.rails.sandboxes[rail]
    order = sandbox.orders[out_trade_no]
    if rail == "alipay":
        return [v for t in order.trades for v in (t.buyer_id, t.buyer_logon_id)]
    if rail == "wechatpay":
        return [p.openid for p in order.payments]
    return ["621661******0018"]  # the sandbox's masked card number (accNo)


@pytest.mark.parametrize("rail", RAILS)
async def test_flipped_signature_byte_gets_failure_ack_over_http(
    client, services, tenant, rail, hold, caplog
):
    held = hold(rail)
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    await pay_at_provider(services, rail, order.out_trade_no, "pay")
    body, headers = flip_a_signature_byte(rail, held.deliveries[0].build())
    caplog.set_level(logging.WARNING, logger="payrecon.security")

    resp = await client.post(f"/notify/{rail}", content=body, headers=headers)

    assert_failure_ack(rail, resp)
    assert refusal_reasons(caplog, rail) == ["bad_signature"]
    await _nothing_stored(services, rail, order.out_trade_no)


@pytest.mark.parametrize("rail", RAILS)
async def test_unknown_order_gets_failure_ack_and_stores_nothing(client, services, rail, hold, caplog):
    held = hold(rail)
    out_trade_no = await order_unknown_to_us(services, rail)
    await pay_at_provider(services, rail, out_trade_no, "pay")
    [delivery] = held.deliveries
    caplog.set_level(logging.WARNING, logger="payrecon.security")

    resp = await deliver(held, delivery)

    assert_failure_ack(rail, resp)
    assert refusal_reasons(caplog, rail) == ["unknown_order"]
    await _nothing_stored(services, rail, out_trade_no)
    assert await order_row(services, out_trade_no) is None


@pytest.mark.parametrize("rail", RAILS)
async def test_foreign_merchant_gets_failure_ack_and_stores_nothing(
    client, services, tenant, rail, notify_client_factory, caplog
):
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, rail)
    # Signed by the provider's own key, for our order number and amount, but another merchant's.
    foreign = foreign_sandbox(services, rail, notify_client_factory)
    copy_order(services, rail, order.out_trade_no, foreign)
    await foreign.pay(order.out_trade_no, "pay")
    [delivery] = foreign.sender.deliveries
    caplog.set_level(logging.WARNING, logger="payrecon.security")

    resp = await deliver(foreign.sender, delivery)

    assert_failure_ack(rail, resp)
    assert refusal_reasons(caplog, rail) == ["foreign_merchant"]  # the signature itself was good
    await _nothing_stored(services, rail, order.out_trade_no)
    row = await order_row(services, order.out_trade_no)
    assert row is not None and row.status == "pending"


# -- WeChat's five-minute window (providers.md pitfall 13) ----------------------------------------


async def _captured_wechat(client, services, tenant, hold) -> tuple[str, httpx.Request, int]:
    held = hold("wechatpay")
    case_id = await new_case(client, tenant)
    order = await start_order(services, tenant, case_id, "wechatpay")
    await pay_at_provider(services, "wechatpay", order.out_trade_no, "pay")
    request = held.deliveries[0].build()  # captured once: its timestamp is fixed from here on
    return order.out_trade_no, request, int(request.headers["Wechatpay-Timestamp"])


def _service_at(services, moment: float) -> NotificationService:
    return NotificationService(
        services.db, services.rails.providers, clock=lambda: datetime.fromtimestamp(moment, UTC)
    )


async def test_wechat_notification_301_seconds_old_is_refused(client, services, tenant, hold):
    out_trade_no, request, stamp = await _captured_wechat(client, services, tenant, hold)

    outcome = await _service_at(services, stamp + 301).receive(
        "wechatpay", lower_headers(request), request.content
    )

    assert outcome.result == "rejected:stale_timestamp"
    assert 400 <= outcome.ack.status_code < 600
    await _nothing_stored(services, "wechatpay", out_trade_no)


async def test_wechat_notification_299_seconds_old_is_accepted(client, services, tenant, hold):
    out_trade_no, request, stamp = await _captured_wechat(client, services, tenant, hold)

    outcome = await _service_at(services, stamp + 299).receive(
        "wechatpay", lower_headers(request), request.content
    )

    assert outcome.result == "recorded"
    assert outcome.ack.status_code == 204
    assert len(await payments_of(services, out_trade_no)) == 1
