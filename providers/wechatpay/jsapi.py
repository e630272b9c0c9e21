"""WeChat Pay JSAPI: the order for a payer inside WeChat, and the signed parameters of the page's
`WeixinJSBridge.invoke('getBrandWCPayRequest', …)` call (providers.md 2.2, JSAPI row).

Kept apart from wire.py and crypto.py; it reuses their signing primitive. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypedDict

from cryptography.hazmat.primitives.asymmetric import rsa

from providers.wechatpay import crypto
from providers.wechatpay.wire import OrderRequestBody, Payer

PATH_JSAPI = "/v3/pay/transactions/jsapi"
BRIDGE_METHOD = "getBrandWCPayRequest"
SIGN_TYPE = "RSA"  # the bridge's name for SHA256withRSA under API v3
PACKAGE_PREFIX = "prepay_id="
# Real prepay ids look like wx201410272009395522657a690389285100; the bound is generous on purpose.
_PREPAY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The keys the bridge takes, in the order the signed message lists the first four.
BRIDGE_KEYS = ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")


class JsapiOrderBody(OrderRequestBody):
    """POST /v3/pay/transactions/jsapi: Native's fields plus the payer."""

    payer: Payer


class JsapiResponse(TypedDict):
    prepay_id: str


def package_for(prepay_id: str) -> str:
    if not _PREPAY_ID.fullmatch(prepay_id):
        raise ValueError("prepay_id has an unexpected shape")
    return PACKAGE_PREFIX + prepay_id


def prepay_id_of(package: str) -> str | None:
    """The prepay id inside a `package` value, or None when the value is not one."""
    if not package.startswith(PACKAGE_PREFIX):
        return None
    prepay_id = package[len(PACKAGE_PREFIX) :]
    return prepay_id if _PREPAY_ID.fullmatch(prepay_id) else None


def pay_sign_message(app_id: str, time_stamp: str, nonce_str: str, package: str) -> bytes:
    """`appId\\ntimeStamp\\nnonceStr\\npackage\\n`: four lines, each ending in a newline."""
    return f"{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n".encode()


def bridge_params(
    merchant_key: rsa.RSAPrivateKey, app_id: str, package: str, time_stamp: str, nonce_str: str
) -> dict[str, str]:
    """What the page passes to getBrandWCPayRequest, signed with the merchant API key."""
    message = pay_sign_message(app_id, time_stamp, nonce_str, package)
    return {
        "appId": app_id,
        "timeStamp": time_stamp,  # a string of Unix seconds: the bridge refuses a number
        "nonceStr": nonce_str,
        "package": package,
        "signType": SIGN_TYPE,
        "paySign": crypto.sign(merchant_key, message),
    }


def check_bridge_params(merchant_public_key: rsa.RSAPublicKey, params: Mapping[str, str]) -> str | None:
    """What WeChat's bridge checks before it shows the pay sheet; None when all is well, else why not."""
    missing = [key for key in BRIDGE_KEYS if not params.get(key)]
    if missing:
        return f"缺少参数 missing {', '.join(missing)}"
    if params["signType"] != SIGN_TYPE:
        return "signType 应为 RSA"
    if not params["timeStamp"].isascii() or not params["timeStamp"].isdigit():
        return "timeStamp 应为秒级时间戳字符串"
    message = pay_sign_message(params["appId"], params["timeStamp"], params["nonceStr"], params["package"])
    if not crypto.verify(merchant_public_key, message, params["paySign"]):
        # The words WeChat shows for a paySign that does not verify.
        return "支付验证签名失败 paySign does not verify"
    return None
