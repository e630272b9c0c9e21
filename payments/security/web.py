"""Secrets and signed values for the browser: the borrower's identity pass and the CSRF secret.

The pass proves that this browser answered the identity check for one link; it carries the link id
and an expiry, signed with HMAC-SHA256 under the web secret, and is kept in an HttpOnly cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from pathlib import Path

PASS_TTL_SECONDS = 30 * 60


class WebSecretError(Exception):
    pass


def load_web_secret(path: Path, *, create: bool) -> bytes:
    if path.exists():
        secret = base64.b64decode(path.read_text().strip())
    elif create:
        secret = os.urandom(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(base64.b64encode(secret).decode())
        tmp.chmod(0o600)
        tmp.replace(path)
    else:
        raise WebSecretError(f"web secret file {path} does not exist")
    if len(secret) < 32:
        raise WebSecretError("the web secret must be at least 32 bytes")
    return secret


def derive(secret: bytes, purpose: str) -> bytes:
    """One key per purpose, so a value signed for one use never verifies for another."""
    return hmac.new(secret, f"payrecon:{purpose}".encode(), hashlib.sha256).digest()


def issue_pass(secret: bytes, link_id: str, now: float | None = None) -> str:
    expires = int((now or time.time()) + PASS_TTL_SECONDS)
    body = f"{link_id}.{expires}"
    sig = hmac.new(derive(secret, "pass"), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{sig}"


def check_pass(secret: bytes, value: str | None, link_id: str, now: float | None = None) -> bool:
    if not value or value.count(".") != 2:
        return False
    got_link, expires, sig = value.split(".")
    want = hmac.new(derive(secret, "pass"), f"{got_link}.{expires}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sig, want) or got_link != link_id or not expires.isdigit():
        return False
    return int(expires) > (now or time.time())
