"""ACP 5.1.0 certificate signatures (signMethod=01), both directions.

Signing (providers.md 3.3): drop empty values and `signature`, set certId to the decimal serial of
the signing certificate, sort `k=v` by key and join with `&` (no URL encoding), take the lowercase
hex SHA-256 of that text, and RSA-sign (PKCS#1 v1.5, SHA-256) the 64 hex characters, not the text.

Verification of UnionPay's messages: the signing certificate travels inside the message as
signPubKeyCert and is itself signed content. It is trusted only if it chains to the configured middle
and root certificates, all three are within their validity at `now`, and the third `@`-separated part
of its subject CN names UnionPay.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


class UntrustedCertificate(Exception):
    """signPubKeyCert is unparseable, outside its validity, off the trusted chain, or not UnionPay's."""


class BadSignature(Exception):
    """The signature is missing, not canonical base64, or does not verify."""


def signing_content(fields: Mapping[str, str]) -> str:
    """The text both sides hash: non-empty fields except `signature`, sorted, raw `k=v` joined by `&`."""
    return "&".join(
        f"{key}={fields[key]}" for key in sorted(fields) if key != "signature" and fields[key] != ""
    )


def content_digest_hex(fields: Mapping[str, str]) -> str:
    return hashlib.sha256(signing_content(fields).encode("utf-8")).hexdigest()


def cert_id(cert: x509.Certificate) -> str:
    """UnionPay's certId: the certificate serial number in decimal."""
    return str(cert.serial_number)


def load_certificate(pem: bytes | str) -> x509.Certificate:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificate(data)


def load_rsa_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the signing key must be an RSA private key")
    return key


def sign_fields(
    fields: Mapping[str, str], key: rsa.RSAPrivateKey, signer_cert_id: str | None
) -> dict[str, str]:
    """Return the message to send: empty values dropped, certId set (when given), signature added.

    Merchants always send certId; UnionPay's own messages carry signPubKeyCert instead, so the
    sandbox passes None.
    """
    message = {k: v for k, v in fields.items() if v != "" and k != "signature"}
    if signer_cert_id is not None:
        message["certId"] = signer_cert_id
    digest_hex = content_digest_hex(message)
    raw = key.sign(digest_hex.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    message["signature"] = base64.b64encode(raw).decode("ascii")
    return message


def verify_with_key(fields: Mapping[str, str], public_key: rsa.RSAPublicKey) -> None:
    """Check `signature` over the other fields with a known key. Raises BadSignature."""
    raw = _decode_signature(fields.get("signature", ""))
    try:
        public_key.verify(
            raw, content_digest_hex(fields).encode("utf-8"), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature as exc:
        raise BadSignature("signature does not verify") from exc


def _decode_signature(text: str) -> bytes:
    if not text:
        raise BadSignature("signature is missing")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadSignature("signature is not base64") from exc
    # b64decode ignores the unused low bits of the last character, so several texts decode to the
    # same bytes; only the canonical one is accepted, which makes any change to the text fatal.
    if base64.b64encode(raw).decode("ascii") != text:
        raise BadSignature("signature is not canonical base64")
    return raw


class UnionPayVerifier:
    """Verifies messages signed by UnionPay under the configured root and middle certificates."""

    def __init__(self, root_pem: bytes, middle_pem: bytes, expected_cn_org: str) -> None:
        self._root = load_certificate(root_pem)
        self._middle = load_certificate(middle_pem)
        self._expected_org = expected_cn_org
        # Misconfigured anchors are a start-up error, not a per-message rejection.
        try:
            self._middle.verify_directly_issued_by(self._root)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise ValueError("the middle certificate is not issued by the root certificate") from exc
        if not _is_ca(self._middle):
            raise ValueError("the middle certificate is not a CA certificate")
        # Chain checks already passed, by PEM text; validity dates are still checked on every use.
        self._chained: dict[str, x509.Certificate] = {}

    def signing_certificate(self, pem: str, now: datetime) -> x509.Certificate:
        cert = self._chained.get(pem)
        if cert is None:
            cert = self._check_chain(pem)
            if len(self._chained) > 16:  # UnionPay rotates rarely; a bound keeps junk out
                self._chained.clear()
            self._chained[pem] = cert
        for each in (cert, self._middle, self._root):
            if not each.not_valid_before_utc <= now <= each.not_valid_after_utc:
                raise UntrustedCertificate("a certificate of the chain is outside its validity period")
        return cert

    def _check_chain(self, pem: str) -> x509.Certificate:
        try:
            cert = load_certificate(pem)
        except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
            raise UntrustedCertificate("signPubKeyCert is not a PEM certificate") from exc
        try:
            cert.verify_directly_issued_by(self._middle)
            public_key = cert.public_key()
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as exc:
            raise UntrustedCertificate("signPubKeyCert is not issued by the trusted middle CA") from exc
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise UntrustedCertificate("signPubKeyCert does not hold an RSA key")
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if len(names) != 1:
            raise UntrustedCertificate("signPubKeyCert has no single subject CN")
        parts = str(names[0].value).split("@")
        if len(parts) < 3 or parts[2] != self._expected_org:
            raise UntrustedCertificate("signPubKeyCert CN does not name the expected organisation")
        return cert

    def verify(self, fields: Mapping[str, str], now: datetime) -> None:
        """Raise UntrustedCertificate or BadSignature unless `fields` carry a valid UnionPay signature."""
        pem = fields.get("signPubKeyCert", "")
        if not pem:
            raise UntrustedCertificate("signPubKeyCert is missing")
        cert = self.signing_certificate(pem, now)
        public_key = cert.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)  # checked in _check_chain
        verify_with_key(fields, public_key)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
