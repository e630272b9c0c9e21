"""RSA2 (SHA256withRSA, PKCS#1 v1.5) signing and verification as the Alipay open platform does it.

Three different "strings to sign" exist on this rail, and mixing them up is the classic bug:
- requests: every parameter except `sign` and empty values, `sign_type` included;
- notifications (and the return_url query): the same but `sign_type` excluded as well;
- synchronous responses: the exact text of the `<method>_response` JSON object, as sent.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_PEM_MARK = b"-----BEGIN"


def load_private_key(material: bytes) -> rsa.RSAPrivateKey:
    """A PEM key (PKCS#1 or PKCS#8), or the bare base64 DER body the Alipay console hands out."""
    data = material.strip()
    try:
        if data.startswith(_PEM_MARK):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(base64.b64decode(data), password=None)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValueError("not a readable RSA private key (PEM or base64 DER)") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the private key is not an RSA key")
    return key


def load_public_key(material: bytes) -> rsa.RSAPublicKey:
    """A PEM public key (SubjectPublicKeyInfo or PKCS#1), or a bare base64 SubjectPublicKeyInfo body."""
    data = material.strip()
    try:
        if data.startswith(_PEM_MARK):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(base64.b64decode(data))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValueError("not a readable RSA public key (PEM or base64 DER)") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the public key is not an RSA key")
    return key


def _join_sorted(params: Mapping[str, str], excluded: frozenset[str]) -> str:
    # Raw values, not URL-encoded; empty values are left out as the official SDKs do.
    items = sorted((k, v) for k, v in params.items() if k not in excluded and v != "")
    return "&".join(f"{k}={v}" for k, v in items)


def request_sign_content(params: Mapping[str, str]) -> str:
    """The string a request's `sign` covers: `sign_type` stays in."""
    return _join_sorted(params, frozenset({"sign"}))


def notification_sign_content(params: Mapping[str, str]) -> str:
    """The string a notification's (or return query's) `sign` covers: `sign_type` is left out."""
    return _join_sorted(params, frozenset({"sign", "sign_type"}))


def sign(key: rsa.RSAPrivateKey, content: str, charset: str = "utf-8") -> str:
    signature = key.sign(content.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify(key: rsa.RSAPublicKey, content: str, signature_b64: str, charset: str = "utf-8") -> bool:
    """True only for a valid signature in canonical base64.

    Non-canonical base64 (stray padding bits, whitespace, missing `=`) is refused, so a signature has
    exactly one accepted spelling and no flipped character of it can still verify.
    """
    try:
        raw = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    if base64.b64encode(raw).decode("ascii") != signature_b64:
        return False
    try:
        payload = content.encode(charset)
    except (UnicodeEncodeError, LookupError):
        return False
    try:
        key.verify(raw, payload, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


class ResponseFormatError(ValueError):
    """A synchronous response that is not a JSON object with distinct top-level keys."""


def top_level_spans(text: str) -> dict[str, tuple[int, int]]:
    """Where each top-level member's value sits in a JSON object text, as (start, end) offsets.

    A response's signature covers the exact characters of one member's value, so the verifier must cut
    them out of the text as received; decoding and re-encoding would change spacing and escapes.
    """
    decoder = json.JSONDecoder()
    spans: dict[str, tuple[int, int]] = {}
    pos = _skip_ws(text, 0)
    if not text.startswith("{", pos):
        raise ResponseFormatError("response is not a JSON object")
    pos = _skip_ws(text, pos + 1)
    if text.startswith("}", pos):
        return spans
    while True:
        try:
            name, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ResponseFormatError("bad member name") from exc
        if not isinstance(name, str):
            raise ResponseFormatError("member name is not a string")
        pos = _skip_ws(text, pos)
        if not text.startswith(":", pos):
            raise ResponseFormatError("missing ':'")
        start = _skip_ws(text, pos + 1)
        try:
            _, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            raise ResponseFormatError(f"bad value for {name!r}") from exc
        if name in spans:
            raise ResponseFormatError(f"duplicate member {name!r}")
        spans[name] = (start, end)
        pos = _skip_ws(text, end)
        if text.startswith(",", pos):
            pos = _skip_ws(text, pos + 1)
            continue
        if text.startswith("}", pos) and not text[pos + 1 :].strip():
            return spans
        raise ResponseFormatError("trailing data after the response object")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos
