"""WeChat Pay API v3 signatures (providers.md 2.1, 2.3) and resource encryption (2.4).

One scheme in both directions: SHA256withRSA, PKCS#1 v1.5, base64. Requests are signed with the
merchant key; responses and callbacks with the platform key. Callback resources are AES-256-GCM
sealed under the APIv3 key.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from providers.base import RejectReason
from providers.wechatpay.config import normalize_key_id
from providers.wechatpay.wire import (
    H_NONCE,
    H_SERIAL,
    H_SIGNATURE,
    H_SIGNATURE_TYPE,
    H_TIMESTAMP,
    SIGNATURE_TYPE,
)

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_AUTH_PAIR = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*')


class SignatureCheckFailed(Exception):
    """A signed WeChat message (response or callback) failed a check; `reason` says which."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class DecryptFailed(Exception):
    pass


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("WeChat Pay keys are RSA keys")
    return key


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """A platform public key PEM, or a platform certificate PEM (certificate mode hands out those)."""
    if b"BEGIN CERTIFICATE" in pem:
        key = x509.load_pem_x509_certificate(pem).public_key()
    else:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("WeChat Pay keys are RSA keys")
    return key


def load_platform_keys(pems: Mapping[str, bytes]) -> dict[str, rsa.RSAPublicKey]:
    return {normalize_key_id(key_id): load_public_key(pem) for key_id, pem in pems.items()}


def new_nonce() -> str:
    return secrets.token_hex(16).upper()


def request_message(method: str, url: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """`METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n`: five lines, each ending in a newline.

    `url` is the path plus `?query` exactly as sent; `body` is the exact bytes sent (empty for GET).
    """
    return f"{method}\n{url}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"


def response_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def verify(key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    raw = strict_b64decode(signature_b64)
    if raw is None:
        return False
    try:
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def strict_b64decode(text: str) -> bytes | None:
    """Decode canonical base64 only.

    The lenient decoder ignores the spare bits of the last character, so two different strings can
    decode to one signature; requiring the canonical form makes every changed character count.
    """
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    if base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


def authorization(mchid: str, serial_no: str, timestamp: str, nonce: str, signature: str) -> str:
    return (
        f'{SIGNATURE_TYPE} mchid="{mchid}",nonce_str="{nonce}",timestamp="{timestamp}",'
        f'serial_no="{serial_no}",signature="{signature}"'
    )


def parse_authorization(value: str) -> dict[str, str] | None:
    """The five pairs of an Authorization header (any order), or None when it is not well formed."""
    scheme, _, rest = value.partition(" ")
    if scheme != SIGNATURE_TYPE:
        return None
    pairs: dict[str, str] = {}
    for part in rest.split(","):
        match = _AUTH_PAIR.fullmatch(part)
        if match is None or match.group(1) in pairs:
            return None
        pairs[match.group(1)] = match.group(2)
    if set(pairs) != {"mchid", "nonce_str", "timestamp", "serial_no", "signature"}:
        return None
    return pairs


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): v for k, v in headers.items()}


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    timestamp: str
    nonce: str
    signature: str
    serial: str


def check_signed(
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, rsa.RSAPublicKey],
    now_ts: float,
    max_skew: int,
) -> SignedHeaders:
    """Verify a platform-signed message (a 2xx response or a callback), timestamp first.

    Raises SignatureCheckFailed. `keys` is keyed by normalised Wechatpay-Serial.
    """
    h = lower_headers(headers)
    values = [h.get(name.lower(), "") for name in (H_TIMESTAMP, H_NONCE, H_SIGNATURE, H_SERIAL)]
    timestamp, nonce, signature, serial = values
    if not all(values):
        raise SignatureCheckFailed(RejectReason.MALFORMED, "missing Wechatpay-* signature headers")
    # wechatpay-go assumes the only scheme when the header is absent; wechatpayv3 insists on it.
    signature_type = h.get(H_SIGNATURE_TYPE.lower(), SIGNATURE_TYPE)
    if signature_type != SIGNATURE_TYPE:
        raise SignatureCheckFailed(RejectReason.MALFORMED, f"unsupported signature type {signature_type!r}")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureCheckFailed(RejectReason.MALFORMED, "Wechatpay-Timestamp is not Unix seconds")
    # Checked before the signature, as the official doc asks: an old but genuine message is a replay.
    if abs(now_ts - int(timestamp)) >= max_skew:
        raise SignatureCheckFailed(RejectReason.STALE_TIMESTAMP, f"timestamp {timestamp} outside {max_skew}s")
    key = keys.get(normalize_key_id(serial))
    if key is None:
        raise SignatureCheckFailed(RejectReason.UNKNOWN_KEY, f"no platform key for serial {serial!r}")
    if not verify(key, response_message(timestamp, nonce, body), signature):
        raise SignatureCheckFailed(RejectReason.BAD_SIGNATURE, "Wechatpay-Signature does not verify")
    return SignedHeaders(timestamp, nonce, signature, serial)


def signed_headers(
    key: rsa.RSAPrivateKey, key_id: str, body: bytes, timestamp: str, nonce: str | None = None
) -> dict[str, str]:
    """The headers WeChat puts on what it signs; used by the sandbox and by tests."""
    nonce = nonce or new_nonce()
    return {
        H_TIMESTAMP: timestamp,
        H_NONCE: nonce,
        H_SIGNATURE: sign(key, response_message(timestamp, nonce, body)),
        H_SERIAL: key_id,
        H_SIGNATURE_TYPE: SIGNATURE_TYPE,
    }


def aes_gcm_decrypt(apiv3_key: bytes, nonce: str, associated_data: str, ciphertext_b64: str) -> bytes:
    """Open a callback resource. Raises DecryptFailed for any wrong key, nonce, AAD or ciphertext."""
    try:
        sealed = base64.b64decode(ciphertext_b64.encode("ascii"), validate=True)
        return AESGCM(apiv3_key).decrypt(nonce.encode(), sealed, associated_data.encode())
    except (InvalidTag, ValueError, binascii.Error, UnicodeError, OverflowError) as exc:
        raise DecryptFailed(type(exc).__name__) from None


def aes_gcm_encrypt(apiv3_key: bytes, nonce: str, associated_data: str, plaintext: bytes) -> str:
    return base64.b64encode(
        AESGCM(apiv3_key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    ).decode("ascii")


def aead_nonce() -> str:
    """12 characters whose UTF-8 bytes are the 96-bit GCM nonce, as WeChat sends it."""
    return secrets.token_urlsafe(9)
