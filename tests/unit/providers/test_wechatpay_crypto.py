"""The signing primitives and config checks, pinned to the byte formats of providers.md 2.1-2.4."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from cryptography.hazmat.primitives import serialization

from providers.wechatpay import crypto
from providers.wechatpay.config import LIVE_GATEWAY, WechatPayConfig, normalize_key_id
from tests.unit.providers.test_wechatpay_rig import public, rsa_key, wiring


def test_the_request_message_is_five_newline_terminated_lines() -> None:
    message = crypto.request_message(
        "POST", "/v3/pay/transactions/native", "1554208460", "593BEC0C", b'{"a":1}'
    )
    assert message == b'POST\n/v3/pay/transactions/native\n1554208460\n593BEC0C\n{"a":1}\n'


def test_a_get_message_ends_with_an_empty_body_line() -> None:
    message = crypto.request_message("GET", "/v3/x?mchid=1900000109", "1554208460", "N", b"")
    assert message == b"GET\n/v3/x?mchid=1900000109\n1554208460\nN\n\n"
    assert message.count(b"\n") == 5


def test_the_answer_message_is_timestamp_nonce_body() -> None:
    assert crypto.response_message("1554209980", "c5ac7061", b"") == b"1554209980\nc5ac7061\n\n"


def test_the_authorization_header_has_the_scheme_and_five_quoted_pairs() -> None:
    header = crypto.authorization(
        "1900000109", "408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB", "1554208460", "N1", "c2ln"
    )
    assert header == (
        'WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="N1",timestamp="1554208460",'
        'serial_no="408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB",signature="c2ln"'
    )


def test_authorization_pairs_are_read_in_any_order() -> None:
    header = 'WECHATPAY2-SHA256-RSA2048 signature="c2ln",serial_no="AB",timestamp="1",nonce_str="N",mchid="1"'
    assert crypto.parse_authorization(header) == {
        "signature": "c2ln",
        "serial_no": "AB",
        "timestamp": "1",
        "nonce_str": "N",
        "mchid": "1",
    }


@pytest.mark.parametrize(
    "header",
    [
        'Bearer mchid="1",nonce_str="N",timestamp="1",serial_no="AB",signature="c2ln"',
        'WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="N",timestamp="1",serial_no="AB"',
        'WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2",nonce_str="N",timestamp="1",serial_no="AB",signature="x"',
        "",
    ],
)
def test_malformed_authorization_headers_are_refused(header: str) -> None:
    assert crypto.parse_authorization(header) is None


def test_a_signature_verifies_under_the_signers_public_key_only() -> None:
    message = b"1554209980\nc5ac7061\n{}\n"
    signature = crypto.sign(rsa_key("platform"), message)
    assert crypto.verify(rsa_key("platform").public_key(), message, signature)
    assert not crypto.verify(rsa_key("intruder").public_key(), message, signature)


def test_non_canonical_base64_is_refused() -> None:
    raw = b"\x00" * 256  # 256 bytes: the last base64 character carries 4 spare bits
    canonical = base64.b64encode(raw).decode()
    sloppy = canonical[:-3] + "B=="  # same bytes under a lenient decoder
    assert base64.b64decode(sloppy) == raw
    assert crypto.strict_b64decode(canonical) == raw
    assert crypto.strict_b64decode(sloppy) is None


def test_the_apiv3_key_is_used_as_its_32_ascii_bytes() -> None:
    key = "0123456789abcdef0123456789abcdef"  # hex-looking on purpose: it must not be hex-decoded
    sealed = crypto.aes_gcm_encrypt(key.encode("ascii"), "fdasflkjfsd2", "transaction", b'{"a":1}')
    assert crypto.aes_gcm_decrypt(key.encode("ascii"), "fdasflkjfsd2", "transaction", sealed) == b'{"a":1}'
    with pytest.raises(crypto.DecryptFailed):
        crypto.aes_gcm_decrypt(bytes.fromhex(key) * 2, "fdasflkjfsd2", "transaction", sealed)


def test_empty_associated_data_is_allowed() -> None:
    key = b"k" * 32
    sealed = crypto.aes_gcm_encrypt(key, "fdasflkjfsd2", "", b"x")
    assert crypto.aes_gcm_decrypt(key, "fdasflkjfsd2", "", sealed) == b"x"


@pytest.mark.parametrize("ciphertext", ["not base64!", "", "AAAA"])
def test_broken_ciphertext_is_a_decrypt_failure(ciphertext: str) -> None:
    with pytest.raises(crypto.DecryptFailed):
        crypto.aes_gcm_decrypt(b"k" * 32, "fdasflkjfsd2", "", ciphertext)


def test_hex_serials_are_compared_as_numbers_and_key_ids_exactly() -> None:
    assert normalize_key_id("005157f09efdc096") == normalize_key_id("5157F09EFDC096")
    assert (
        normalize_key_id("PUB_KEY_ID_0114232134912410000000000000")
        == "PUB_KEY_ID_0114232134912410000000000000"
    )


# -- config --------------------------------------------------------------------------------------


def _config(**changes: object) -> WechatPayConfig:
    config, _, _ = wiring()
    return dataclasses.replace(config, **changes)


def test_live_mode_defaults_to_the_wechat_gateway() -> None:
    config, _, _ = wiring()
    live = WechatPayConfig(
        mode="live",
        mchid=config.mchid,
        appid=config.appid,
        merchant_serial_no=config.merchant_serial_no,
        merchant_private_key_pem=config.merchant_private_key_pem,
        apiv3_key=config.apiv3_key,
        platform_public_keys=config.platform_public_keys,
    )
    assert live.gateway_url == LIVE_GATEWAY == "https://api.mch.weixin.qq.com"
    assert live.notify_max_skew_seconds == 300


def test_a_pkcs1_merchant_key_is_refused() -> None:
    pkcs1 = rsa_key("merchant").private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="PKCS#8"):
        _config(merchant_private_key_pem=pkcs1)


@pytest.mark.parametrize("key", ["short", "x" * 33, "é" * 32])
def test_an_apiv3_key_that_is_not_32_ascii_characters_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="apiv3_key"):
        _config(apiv3_key=key)


def test_live_mode_needs_https() -> None:
    with pytest.raises(ValueError, match="https"):
        _config(mode="live", gateway_url="http://api.mch.weixin.qq.com")


def test_a_skew_window_wider_than_wechats_is_refused() -> None:
    with pytest.raises(ValueError, match="skew"):
        _config(notify_max_skew_seconds=600)


def test_platform_keys_are_indexed_by_their_normalised_id() -> None:
    keys = crypto.load_platform_keys(
        {"PUB_KEY_ID_01": public(rsa_key("platform")), "00ab": public(rsa_key("platform"))}
    )
    assert sorted(keys) == ["AB", "PUB_KEY_ID_01"]
