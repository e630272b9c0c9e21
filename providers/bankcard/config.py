"""Settings of the bank card rail (UnionPay ACP 5.1.0 online gateway, certificate signing)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# Production hosts: gateway.95516.com replaces the test host gateway.test.95516.com (providers.md 3.1,
# production host UNVERIFIED). The file host follows the same pattern by analogy with the test
# environment's filedownload.test.95516.com, which is equally UNVERIFIED for production.
LIVE_GATEWAY_BASE = "https://gateway.95516.com"
LIVE_FILE_URL = "https://filedownload.95516.com/"
TEST_GATEWAY_BASE = "https://gateway.test.95516.com"
TEST_FILE_URL = "https://filedownload.test.95516.com/"

# The organisation part of the subject CN of UnionPay's signing certificate in production. The test
# environment presents "00040000:SIGN" in that position instead (providers.md 3.3).
UNIONPAY_CN_ORG = "中国银联股份有限公司"

_MER_ID = re.compile(r"[0-9]{15}")


@dataclass(frozen=True, slots=True)
class BankCardConfig:
    """Merchant-side configuration.

    `signing_key_pem` and `signing_cert_pem` are the merchant's signing key and certificate (in
    production both come from the CFCA PFX); certId is the certificate's decimal serial.
    `root_cert_pem` and `middle_cert_pem` are the trust anchors for UnionPay's signPubKeyCert.
    `refund_notify_url` is the backUrl of refund requests: RefundRequest carries no notify URL, and
    UnionPay requires one on every back transaction.
    """

    mode: Literal["live", "sandbox"]
    mer_id: str
    signing_key_pem: bytes
    signing_cert_pem: bytes
    root_cert_pem: bytes
    middle_cert_pem: bytes
    gateway_base: str = LIVE_GATEWAY_BASE
    file_url: str = LIVE_FILE_URL
    expected_cn_org: str = UNIONPAY_CN_ORG
    refund_notify_url: str = ""

    def __post_init__(self) -> None:
        if self.mode not in ("live", "sandbox"):
            raise ValueError("mode must be 'live' or 'sandbox'")
        if not _MER_ID.fullmatch(self.mer_id):
            raise ValueError("mer_id must be the 15-digit UnionPay merchant id")
        if not self.gateway_base.startswith(("https://", "http://")):
            raise ValueError("gateway_base must be an http(s) URL")
        if not self.expected_cn_org:
            raise ValueError("expected_cn_org must not be empty")

    @property
    def front_url(self) -> str:
        return self.gateway_base.rstrip("/") + "/gateway/api/frontTransReq.do"

    @property
    def back_url(self) -> str:
        return self.gateway_base.rstrip("/") + "/gateway/api/backTransReq.do"

    @property
    def query_url(self) -> str:
        return self.gateway_base.rstrip("/") + "/gateway/api/queryTrans.do"
