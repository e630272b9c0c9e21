"""Merchant-side settings for the Alipay open platform rail (public-key mode, RSA2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

LIVE_GATEWAY = "https://openapi.alipay.com/gateway.do"

# A PID (the seller_id Alipay puts in notifications) is "2088" plus twelve digits.
_PID = re.compile(r"2088[0-9]{12}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AlipayConfig:
    app_id: str
    app_private_key_pem: bytes  # the app's RSA key: PEM (PKCS#1 or PKCS#8) or the console's bare base64
    alipay_public_key_pem: bytes  # Alipay's RSA public key for this app: PEM or bare base64
    # While Alipay's key is being changed: the key it is replacing, still accepted on responses and
    # notifications (a notification signed just before the switch is retried for hours).
    previous_alipay_public_key_pem: bytes = b""
    seller_id: str = ""  # the PID; when set, notifications for another seller are refused
    mode: Literal["live", "sandbox"] = "live"
    gateway_url: str = LIVE_GATEWAY

    def __post_init__(self) -> None:
        if self.mode not in ("live", "sandbox"):
            raise ValueError(f"alipay mode must be 'live' or 'sandbox', not {self.mode!r}")
        if not self.app_id or not self.app_id.isdigit():
            raise ValueError("alipay app_id must be the numeric APPID from the open platform console")
        if self.seller_id and not _PID.fullmatch(self.seller_id):
            raise ValueError("alipay seller_id must be a PID: 2088 followed by 12 digits")
        parts = urlsplit(self.gateway_url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError(f"alipay gateway_url is not an absolute URL: {self.gateway_url!r}")
        # Signed requests and keys travel to the gateway: in live mode that must be over TLS.
        if self.mode == "live" and parts.scheme != "https":
            raise ValueError("alipay gateway_url must use https in live mode")
        if parts.query or parts.fragment:
            raise ValueError("alipay gateway_url must not carry a query or fragment")
