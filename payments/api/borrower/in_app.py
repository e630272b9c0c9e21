"""The detour through a wallet's web OAuth before paying inside its app (WeChat: snsapi_base, which
gives the payer's openid, which a JSAPI order needs).

The `state` sent to WeChat is random. A cookie binds it to this link, this channel and the amount the
borrower chose, signed under the web secret, for ten minutes and one use; the return is accepted only
when its state matches that cookie, so a code planted by someone else's link or tab is refused (CSRF).
Neither the code nor the openid is ever stored here: the openid lives for one request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from payments.security.web import derive

COOKIE = "payrecon_inapp"
TTL_SECONDS = 10 * 60  # WeChat's code lives 5 minutes; the borrower may be slow to get there
_PURPOSE = "in-app-auth"
_CHANNEL = re.compile(r"[a-z]{1,20}")


@dataclass(frozen=True, slots=True)
class PendingAuth:
    link_id: str
    channel: str
    amount_fen: int
    state: str


def new_state() -> str:
    return secrets.token_hex(16)  # WeChat keeps state to [A-Za-z0-9]{0,128}


def _sign(secret: bytes, body: str) -> str:
    return hmac.new(derive(secret, _PURPOSE), body.encode(), hashlib.sha256).hexdigest()


def seal(secret: bytes, pending: PendingAuth, now: float | None = None) -> str:
    expires = int((now or time.time()) + TTL_SECONDS)
    body = f"{pending.link_id}.{pending.channel}.{pending.amount_fen}.{pending.state}.{expires}"
    return f"{body}.{_sign(secret, body)}"


def unseal(
    secret: bytes, value: str | None, link_id: str, channel: str, state: str, now: float | None = None
) -> PendingAuth | None:
    """The pending payment when the cookie is ours, unexpired, for this link and channel, and its state
    is the one WeChat brought back; None for anything else."""
    if not value or value.count(".") != 5 or not state:
        return None
    body, _, sig = value.rpartition(".")
    if not hmac.compare_digest(sig.encode(), _sign(secret, body).encode()):
        return None
    got_link, got_channel, amount, got_state, expires = body.split(".")
    if got_link != link_id or got_channel != channel or not _CHANNEL.fullmatch(got_channel):
        return None
    if not amount.isdigit() or not expires.isdigit() or int(expires) <= (now or time.time()):
        return None
    if not hmac.compare_digest(got_state.encode(), state.encode()):
        return None
    return PendingAuth(got_link, got_channel, int(amount), got_state)
