"""ACP 5.1.0 signatures, checked against the spec text step by step (no public Python SDK works:
the community port needs removed pyOpenSSL APIs, pitfall 24), and the certificate chain rules."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from providers.bankcard import sandbox_pki
from providers.bankcard.config import UNIONPAY_CN_ORG
from providers.bankcard.crypto import (
    BadSignature,
    UnionPayVerifier,
    UntrustedCertificate,
    cert_id,
    load_certificate,
    load_rsa_private_key,
    sign_fields,
    signing_content,
    verify_with_key,
)
from tests.unit.providers.test_bankcard_support import (  # noqa: F401 - fixtures are found by name
    Env,
    OtherChain,
    bankcard_data_dir_fixture,
    env_fixture,
    middle_key,
    order_request,
    other_chain_fixture,
    signing_key,
)

FIXED = {
    "version": "5.1.0",
    "encoding": "UTF-8",
    "signMethod": "01",
    "txnType": "01",
    "txnSubType": "01",
    "bizType": "000201",
    "channelType": "08",
    "accessType": "0",
    "currencyCode": "156",
    "merId": "777000000000001",
    "orderId": "ORDER20250001",
    "txnTime": "20250101120000",
    "txnAmt": "100",
    "frontUrl": "http://127.0.0.1:8000/pay/tok/return?a=1&b=2",
    "backUrl": "http://127.0.0.1:8000/notify/bankcard",
    "riskRateInfo": "{commodityName=还款}",
    "reqReserved": "",  # empty: must not be signed or sent
}


def _by_hand(fields: dict[str, str], key: rsa.RSAPrivateKey, certid: str) -> str:
    """Spec 3.3, one step at a time."""
    kept = {k: v for k, v in fields.items() if v != "" and k != "signature"}  # 1. drop empties, signature
    kept["certId"] = certid  # 1. certId = decimal serial
    content = "&".join(f"{k}={kept[k]}" for k in sorted(kept))  # 2. sorted, raw k=v joined by &
    digest_hex = hashlib.sha256(content.encode("utf-8")).hexdigest()  # 3. lowercase hex SHA-256
    assert digest_hex == digest_hex.lower() and len(digest_hex) == 64
    raw = key.sign(digest_hex.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())  # 4. RSA over hex
    return base64.b64encode(raw).decode("ascii")


def test_signing_content_is_sorted_raw_pairs_without_empties_or_signature() -> None:
    content = signing_content({"b": "2", "a": "x&y=z", "signature": "s", "c": "", "A": "1"})
    assert content == "A=1&a=x&y=z&b=2"


def test_hand_computed_signature_equals_sign_fields(env: Env) -> None:
    key = load_rsa_private_key(env.config.signing_key_pem)
    certid = cert_id(load_certificate(env.config.signing_cert_pem))
    signed = sign_fields(FIXED, key, certid)
    assert signed["signature"] == _by_hand(FIXED, key, certid)
    assert signed["certId"] == certid and "reqReserved" not in signed


def test_cert_id_is_the_decimal_serial(env: Env) -> None:
    cert = load_certificate(env.config.signing_cert_pem)
    assert cert_id(cert) == str(cert.serial_number) and cert_id(cert).isdigit()


async def test_client_consume_form_carries_the_hand_computed_signature(env: Env) -> None:
    action = await env.provider.create_order(order_request())
    fields = dict(action.fields)
    key = load_rsa_private_key(env.config.signing_key_pem)
    assert fields["signature"] == _by_hand(fields, key, fields["certId"])


def test_verify_with_key_refuses_a_changed_field(env: Env) -> None:
    key = load_rsa_private_key(env.config.signing_key_pem)
    signed = sign_fields(FIXED, key, "1")
    verify_with_key(signed, key.public_key())
    with pytest.raises(BadSignature):
        verify_with_key({**signed, "txnAmt": "101"}, key.public_key())


def test_verify_with_key_refuses_non_canonical_base64(env: Env) -> None:
    key = load_rsa_private_key(env.config.signing_key_pem)
    signed = sign_fields(FIXED, key, "1")
    sig = signed["signature"]
    # 256 bytes end in "==" after a character with 4 unused bits; setting one still decodes the same.
    assert sig.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = sig[:-3] + alphabet[alphabet.index(sig[-3]) ^ 1] + "=="
    assert base64.b64decode(twin) == base64.b64decode(sig)
    with pytest.raises(BadSignature):
        verify_with_key({**signed, "signature": twin}, key.public_key())


# -- the chain -----------------------------------------------------------------------------------


def _verifier(env: Env, org: str = UNIONPAY_CN_ORG) -> UnionPayVerifier:
    return UnionPayVerifier(env.config.root_cert_pem, env.config.middle_cert_pem, org)


def _signed_by(cert_pem: bytes, key: rsa.RSAPrivateKey) -> dict[str, str]:
    return sign_fields({**FIXED, "signPubKeyCert": cert_pem.decode("ascii")}, key, None)


def _leaf_under_trusted_middle(
    env: Env, data_dir: Path, *, cn: str, not_before: datetime, not_after: datetime
) -> tuple[bytes, rsa.RSAPrivateKey]:
    key = signing_key(data_dir)
    cert = sandbox_pki.issue_certificate(
        subject_cn=cn,
        public_key=key.public_key(),
        issuer=load_certificate(env.config.middle_cert_pem),
        issuer_key=middle_key(data_dir),
        not_before=not_before,
        not_after=not_after,
        ca=False,
    )
    return sandbox_pki.cert_pem(cert), key


def test_sandbox_signature_verifies_under_the_configured_chain(env: Env) -> None:
    fields = env.sandbox.gateway.sign({"respCode": "00"})
    _verifier(env).verify(fields, datetime.now(UTC))


def test_verifier_refuses_a_certificate_from_an_untrusted_chain(env: Env, other_chain: OtherChain) -> None:
    chain, key = other_chain
    fields = _signed_by(sandbox_pki.cert_pem(chain.signing), key)
    with pytest.raises(UntrustedCertificate, match="not issued by the trusted middle"):
        _verifier(env).verify(fields, datetime.now(UTC))


def test_verifier_refuses_an_expired_certificate(env: Env, bankcard_data_dir: Path) -> None:
    now = datetime.now(UTC)
    pem, key = _leaf_under_trusted_middle(
        env,
        bankcard_data_dir,
        cn=sandbox_pki.unionpay_signing_cn(UNIONPAY_CN_ORG, now),
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
    )
    with pytest.raises(UntrustedCertificate, match="validity"):
        _verifier(env).verify(_signed_by(pem, key), now)


def test_verifier_refuses_a_valid_certificate_checked_after_it_expires(env: Env) -> None:
    fields = env.sandbox.gateway.sign({"respCode": "00"})
    with pytest.raises(UntrustedCertificate, match="validity"):
        _verifier(env).verify(fields, datetime.now(UTC) + timedelta(days=30 * 365))


def test_verifier_refuses_a_cn_naming_another_organisation(env: Env, bankcard_data_dir: Path) -> None:
    now = datetime.now(UTC)
    pem, key = _leaf_under_trusted_middle(
        env,
        bankcard_data_dir,
        cn="041@Z1@某某支付有限公司@00040000:SIGN",
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=1),
    )
    with pytest.raises(UntrustedCertificate, match="CN"):
        _verifier(env).verify(_signed_by(pem, key), now)


def test_expected_cn_org_is_configurable_for_the_test_environment(env: Env, bankcard_data_dir: Path) -> None:
    now = datetime.now(UTC)
    pem, key = _leaf_under_trusted_middle(
        env,
        bankcard_data_dir,
        cn="041@Z12@00040000:SIGN@00000062",  # the shape UnionPay's test environment presents
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=1),
    )
    _verifier(env, org="00040000:SIGN").verify(_signed_by(pem, key), now)
    with pytest.raises(UntrustedCertificate):
        _verifier(env).verify(_signed_by(pem, key), now)


def test_verifier_refuses_garbage_in_sign_pub_key_cert(env: Env) -> None:
    with pytest.raises(UntrustedCertificate):
        _verifier(env).verify(
            {**FIXED, "signPubKeyCert": "-----BEGIN CERTIFICATE-----\nAAAA\n"}, datetime.now(UTC)
        )


def test_verifier_construction_refuses_a_middle_not_issued_by_the_root(
    env: Env, other_chain: OtherChain
) -> None:
    chain, _ = other_chain
    with pytest.raises(ValueError, match="middle"):
        UnionPayVerifier(env.config.root_cert_pem, sandbox_pki.cert_pem(chain.middle), UNIONPAY_CN_ORG)
