"""RSA2 signing rules of the Alipay rail: what each kind of message signs, and how it is verified."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization

from providers.alipay import crypto
from tests.unit.providers.test_alipay_kit import merchant_key, platform_key


def test_request_content_keeps_sign_type_and_drops_sign_and_empties():
    params = {"sign": "xyz", "sign_type": "RSA2", "b": "2", "a": "1", "empty": ""}
    assert crypto.request_sign_content(params) == "a=1&b=2&sign_type=RSA2"


def test_notification_content_drops_sign_type_too():
    params = {"sign": "xyz", "sign_type": "RSA2", "b": "2", "a": "1", "empty": ""}
    assert crypto.notification_sign_content(params) == "a=1&b=2"


def test_content_uses_raw_values_not_url_encoding():
    params = {"subject": "还款+A&B=C d", "biz_content": '{"x":"1 2"}'}
    assert crypto.request_sign_content(params) == 'biz_content={"x":"1 2"}&subject=还款+A&B=C d'


def test_content_sorts_keys_in_ascii_order():
    params = {"b": "1", "B": "2", "a_b": "3", "ab": "4"}
    assert crypto.request_sign_content(params) == "B=2&a_b=3&ab=4&b=1"


def test_signature_verifies_with_the_matching_public_key():
    signature = crypto.sign(merchant_key(), "a=1&b=还款")
    assert crypto.verify(merchant_key().public_key(), "a=1&b=还款", signature)


def test_signature_is_single_line_base64():
    signature = crypto.sign(merchant_key(), "a=1")
    assert "\n" not in signature
    assert len(base64.b64decode(signature, validate=True)) == 256


def test_signature_does_not_verify_with_another_key():
    signature = crypto.sign(merchant_key(), "a=1")
    assert not crypto.verify(platform_key().public_key(), "a=1", signature)


def test_signature_does_not_verify_other_content():
    signature = crypto.sign(merchant_key(), "a=1")
    assert not crypto.verify(merchant_key().public_key(), "a=2", signature)


def test_non_canonical_base64_is_refused():
    signature = crypto.sign(merchant_key(), "a=1")
    raw = base64.b64decode(signature)
    assert signature.endswith("==")
    # 256 bytes leave four unused bits in the last character; setting one keeps the decoded bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = signature[-3]
    sloppy = signature[:-3] + alphabet[alphabet.index(last) | 1] + "=="
    assert sloppy != signature
    assert base64.b64decode(sloppy) == raw
    assert not crypto.verify(merchant_key().public_key(), "a=1", sloppy)


@pytest.mark.parametrize("garbage", ["", "not base64!", "QUJD", "QUJD\n"])
def test_garbage_signature_is_refused_not_raised(garbage):
    assert not crypto.verify(merchant_key().public_key(), "a=1", garbage)


def _pem(private: bool, fmt: str) -> bytes:
    key = merchant_key()
    if private:
        form = {
            "pkcs1": serialization.PrivateFormat.TraditionalOpenSSL,
            "pkcs8": serialization.PrivateFormat.PKCS8,
        }
        return key.private_bytes(serialization.Encoding.PEM, form[fmt], serialization.NoEncryption())
    public_form = {
        "pkcs1": serialization.PublicFormat.PKCS1,
        "spki": serialization.PublicFormat.SubjectPublicKeyInfo,
    }
    return key.public_key().public_bytes(serialization.Encoding.PEM, public_form[fmt])


def _bare(pem: bytes) -> bytes:
    return b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))


@pytest.mark.parametrize("fmt", ["pkcs1", "pkcs8"])
def test_private_key_loads_from_pem_and_from_the_consoles_bare_base64(fmt):
    pem = _pem(True, fmt)
    for material in (pem, _bare(pem)):
        signature = crypto.sign(crypto.load_private_key(material), "a=1")
        assert crypto.verify(merchant_key().public_key(), "a=1", signature)


@pytest.mark.parametrize("material", [b"", b"-----BEGIN PRIVATE KEY-----\nAAAA\n", b"%%%"])
def test_unreadable_private_key_is_a_value_error(material):
    with pytest.raises(ValueError):
        crypto.load_private_key(material)


@pytest.mark.parametrize("fmt", ["pkcs1", "spki"])
def test_public_key_loads_from_pem(fmt):
    key = crypto.load_public_key(_pem(False, fmt))
    assert crypto.verify(key, "a=1", crypto.sign(merchant_key(), "a=1"))


def test_public_key_loads_from_bare_spki_base64():
    key = crypto.load_public_key(_bare(_pem(False, "spki")))
    assert crypto.verify(key, "a=1", crypto.sign(merchant_key(), "a=1"))


def test_response_span_is_the_exact_text_of_the_member():
    inner = '{ "code" : "10000", "msg":"Success","qr_code":"https://x/{a}\\"}" , "n":{"k":[1,{"z":2}]}}'
    text = '{"alipay_trade_precreate_response":' + inner + ' ,\n "sign":"c2ln"}'
    spans = crypto.top_level_spans(text)
    start, end = spans["alipay_trade_precreate_response"]
    assert text[start:end] == inner
    assert json.loads(text[slice(*spans["sign"])]) == "c2ln"


def test_response_member_order_does_not_matter():
    text = '{"sign":"c2ln","alipay_trade_query_response":{"code":"10000"}}'
    start, end = crypto.top_level_spans(text)["alipay_trade_query_response"]
    assert text[start:end] == '{"code":"10000"}'


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"a":{"b":1}',
        '{"a":1,"a":2}',
        '{"a":1} trailing',
        '{"a" 1}',
        "{1:2}",
        '{"a":1,}',
    ],
)
def test_malformed_response_text_is_refused(text):
    with pytest.raises(crypto.ResponseFormatError):
        crypto.top_level_spans(text)
