"""Property tests: no change to a signed notification gets through, and nothing but
NotificationRejected ever escapes parse_notification. Seeds are fixed (derandomize)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.bankcard import wire
from providers.bankcard.client import BankCardProvider
from providers.base import NotificationRejected, RejectReason
from tests.unit.providers.test_bankcard_support import (  # noqa: F401 - fixtures are found by name
    bankcard_data_dir_fixture,
    fresh_sandbox,
)

NOW = datetime.now(UTC)
PROPERTY = settings(max_examples=300, derandomize=True, deadline=None)


@dataclass(frozen=True)
class Signed:
    provider: BankCardProvider
    fields: dict[str, str]  # as signed, signature included
    body: bytes


@pytest.fixture(scope="module")
def signed(bankcard_data_dir: Path) -> Signed:
    config, sandbox = fresh_sandbox(bankcard_data_dir, httpx.AsyncClient)
    notice = {
        "version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "txnType": "01", "txnSubType": "01",
        "bizType": "000201", "accessType": "0", "merId": config.mer_id, "orderId": "ORDER20250001",
        "txnTime": "20250101120000", "txnAmt": "1234", "currencyCode": "156",
        "queryId": "202501011200000000001", "respCode": "00", "respMsg": "成功[0000000] a+b",
        "accNo": "621661******0018", "reqReserved": "x y+z/=&?",
    }  # fmt: skip
    fields = sandbox.gateway.sign(notice)
    provider = BankCardProvider(config, httpx.AsyncClient())
    provider.parse_notification({}, wire.encode_form(fields), NOW)  # the unmodified one is accepted
    return Signed(provider, fields, wire.encode_form(fields))


@PROPERTY
@given(st.data())
def test_flipping_any_body_byte_is_refused_unless_it_decodes_to_the_same_fields(
    signed: Signed, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(signed.body) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="xor")
    body = bytearray(signed.body)
    body[index] ^= mask
    try:
        signed.provider.parse_notification({}, bytes(body), NOW)
    except NotificationRejected:
        return
    # Accepted: only possible for an equivalent encoding of the same fields ("%2B" vs "%2b", "+" vs " ").
    assert dict(parse_qsl(bytes(body).decode("utf-8"))) == signed.fields


@PROPERTY
@given(st.data())
def test_flipping_any_signature_byte_is_a_bad_signature(signed: Signed, data: st.DataObject) -> None:
    raw = bytearray(signed.fields["signature"].encode("ascii"))
    raw[data.draw(st.integers(0, len(raw) - 1), label="index")] ^= data.draw(st.integers(1, 255), label="xor")
    body = wire.encode_form({**signed.fields, "signature": raw.decode("latin-1")})
    with pytest.raises(NotificationRejected) as caught:
        signed.provider.parse_notification({}, body, NOW)
    assert caught.value.reason is RejectReason.BAD_SIGNATURE


@PROPERTY
@given(st.data())
def test_changing_any_character_of_any_field_is_refused(signed: Signed, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(set(signed.fields) - {"signature"})), label="field")
    value = signed.fields[name]
    index = data.draw(st.integers(0, len(value) - 1), label="index")
    replacement = data.draw(st.characters(codec="utf-8").filter(lambda c: c != value[index]), label="char")
    changed = value[:index] + replacement + value[index + 1 :]
    body = wire.encode_form({**signed.fields, name: changed})
    with pytest.raises(NotificationRejected):
        signed.provider.parse_notification({}, body, NOW)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_only_ever_raise_notification_rejected(signed: Signed, body: bytes) -> None:
    try:
        signed.provider.parse_notification({}, body, NOW)
    except NotificationRejected:
        pass
    else:
        pytest.fail("random bytes were accepted")
