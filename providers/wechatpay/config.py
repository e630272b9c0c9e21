"""Merchant-side settings for WeChat Pay API v3 (providers.md section 2)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

LIVE_GATEWAY = "https://api.mch.weixin.qq.com"
# WeChat web OAuth for official accounts: the browser goes to the first, the server calls the second.
LIVE_OAUTH_AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
LIVE_OAUTH_API = "https://api.weixin.qq.com"

# Real public-key ids look like PUB_KEY_ID_0114232134912410000000000000; certificate serials are hex.
PUB_KEY_ID_PREFIX = "PUB_KEY_ID_"
_HEX = re.compile(r"[0-9A-Fa-f]{1,64}")
_MCHID = re.compile(r"[0-9]{6,32}")


def normalize_key_id(key_id: str) -> str:
    """The form in which a Wechatpay-Serial value is looked up in the key map.

    Certificate serials are numbers written in hex: WeChat sends them upper-case, the merchant platform
    may show them lower-case, and wechatpayv3 compares them as integers, so leading zeros and case must
    not matter. Public-key ids are opaque and compared exactly.
    """
    if key_id.startswith(PUB_KEY_ID_PREFIX) or not _HEX.fullmatch(key_id):
        return key_id
    return key_id.upper().lstrip("0") or "0"


@dataclass(frozen=True, slots=True, kw_only=True)
class WechatPayConfig:
    mode: Literal["live", "sandbox"]
    mchid: str
    appid: str
    merchant_serial_no: str  # hex serial of the merchant API certificate (apiclient_cert.pem)
    merchant_private_key_pem: bytes = field(repr=False)  # apiclient_key.pem, PKCS#8
    apiv3_key: str = field(repr=False)  # 32 ASCII characters, used as the raw AES-256 key bytes
    # Wechatpay-Serial value -> platform public key (or platform certificate) PEM. Public-key mode uses
    # the PUB_KEY_ID_... id; certificate mode uses hex serials. Several entries let keys rotate, and
    # let a merchant switching modes verify both kinds of callback (providers.md 2.6).
    platform_public_keys: Mapping[str, bytes] = field(hash=False)
    gateway_url: str = LIVE_GATEWAY
    # Refunds have no notify_url in RefundRequest; when empty WeChat uses the one set on the merchant
    # platform (and the sandbox uses the order's notify_url).
    refund_notify_url: str = ""
    notify_max_skew_seconds: int = 300
    # Paying inside WeChat's browser (JSAPI) needs the payer's openid under an official account (公众号),
    # got by web OAuth with that account's AppSecret. The account's appid defaults to `appid`; without
    # the secret, in-app payment is off and WeChat's browser gets H5 as before.
    official_account_appid: str = ""
    official_account_secret: str = field(default="", repr=False)
    oauth_authorize_url: str = LIVE_OAUTH_AUTHORIZE
    oauth_api_url: str = LIVE_OAUTH_API

    def __post_init__(self) -> None:
        if self.mode not in ("live", "sandbox"):
            raise ValueError(f"wechatpay mode must be 'live' or 'sandbox', not {self.mode!r}")
        if not _MCHID.fullmatch(self.mchid):
            raise ValueError("wechatpay mchid must be the merchant number (digits)")
        if not self.appid:
            raise ValueError("wechatpay appid is required")
        if not _HEX.fullmatch(self.merchant_serial_no):
            raise ValueError("wechatpay merchant_serial_no must be the hex certificate serial")
        if b"-----BEGIN PRIVATE KEY-----" not in self.merchant_private_key_pem:
            # apiclient_key.pem is PKCS#8; a PKCS#1 "BEGIN RSA PRIVATE KEY" file is usually a converted
            # copy and the official SDKs refuse it (providers.md pitfall 17).
            raise ValueError("wechatpay merchant_private_key_pem must be a PKCS#8 PEM (BEGIN PRIVATE KEY)")
        if len(self.apiv3_key) != 32 or not self.apiv3_key.isascii() or not self.apiv3_key.isprintable():
            raise ValueError("wechatpay apiv3_key must be exactly 32 ASCII characters")
        if not self.platform_public_keys:
            raise ValueError("wechatpay needs at least one platform public key")
        if not self.gateway_url.startswith(("https://", "http://")):
            raise ValueError("wechatpay gateway_url must be an http(s) URL")
        if self.mode == "live" and not self.gateway_url.startswith("https://"):
            raise ValueError("wechatpay gateway_url must use https in live mode")
        if not 0 < self.notify_max_skew_seconds <= 300:
            # WeChat's own limit is 5 minutes; a wider window only widens the replay window.
            raise ValueError("wechatpay notify_max_skew_seconds must be between 1 and 300")
        for name in ("oauth_authorize_url", "oauth_api_url"):
            url = getattr(self, name)
            # The secret and the code travel to the API URL, so live mode never lets them go in clear.
            if not url.startswith("https://" if self.mode == "live" else ("https://", "http://")):
                raise ValueError(f"wechatpay {name} must be an http(s) URL, https in live mode")
        if self.official_account_secret and not (
            self.official_account_secret.isascii() and self.official_account_secret.isalnum()
        ):
            raise ValueError("wechatpay official_account_secret must be the AppSecret (letters and digits)")
        object.__setattr__(self, "platform_public_keys", MappingProxyType(dict(self.platform_public_keys)))
        object.__setattr__(self, "gateway_url", self.gateway_url.rstrip("/"))
        object.__setattr__(self, "oauth_api_url", self.oauth_api_url.rstrip("/"))

    @property
    def jsapi_appid(self) -> str:
        """The appid of JSAPI orders and of the page's bridge call: the one the openid belongs to."""
        return self.official_account_appid or self.appid

    @property
    def in_app_ready(self) -> bool:
        return bool(self.official_account_secret)

    @property
    def apiv3_key_bytes(self) -> bytes:
        return self.apiv3_key.encode("ascii")
