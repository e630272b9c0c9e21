"""WeChat Pay API v3 message shapes, with WeChat's own field names (providers.md 2.2-2.7).

These describe JSON documents; nothing here validates. Parsing code checks every field it reads.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
AEAD_ALGORITHM = "AEAD_AES_256_GCM"

# Header names as WeChat writes them; lookups are case-insensitive.
H_TIMESTAMP = "Wechatpay-Timestamp"
H_NONCE = "Wechatpay-Nonce"
H_SIGNATURE = "Wechatpay-Signature"
H_SERIAL = "Wechatpay-Serial"
H_SIGNATURE_TYPE = "Wechatpay-Signature-Type"

# Paths below the gateway base URL.
PATH_NATIVE = "/v3/pay/transactions/native"
PATH_H5 = "/v3/pay/transactions/h5"
PATH_QUERY_BY_OUT_TRADE_NO = "/v3/pay/transactions/out-trade-no/{out_trade_no}"
PATH_CLOSE = "/v3/pay/transactions/out-trade-no/{out_trade_no}/close"
PATH_REFUNDS = "/v3/refund/domestic/refunds"
PATH_REFUND = "/v3/refund/domestic/refunds/{out_refund_no}"
PATH_TRADEBILL = "/v3/bill/tradebill"
PATH_BILLDOWNLOAD = "/v3/billdownload/file"


class Amount(TypedDict):
    total: int  # fen
    currency: str


class H5Info(TypedDict):
    type: str  # "Wap" for a mobile website


class SceneInfo(TypedDict):
    payer_client_ip: str
    h5_info: NotRequired[H5Info]


class OrderRequestBody(TypedDict):
    """POST /v3/pay/transactions/native and /h5 (H5 adds scene_info)."""

    appid: str
    mchid: str
    description: str
    out_trade_no: str
    notify_url: str
    amount: Amount
    time_expire: NotRequired[str]
    attach: NotRequired[str]
    scene_info: NotRequired[SceneInfo]


class NativeResponse(TypedDict):
    code_url: str


class H5Response(TypedDict):
    h5_url: str


class CloseBody(TypedDict):
    mchid: str


class TransactionAmount(TypedDict):
    total: int
    payer_total: NotRequired[int]
    currency: NotRequired[str]
    payer_currency: NotRequired[str]


class Payer(TypedDict):
    openid: str


class Transaction(TypedDict):
    """A query answer, and the decrypted resource of a TRANSACTION.* notification."""

    appid: str
    mchid: str
    out_trade_no: str
    transaction_id: NotRequired[str]
    trade_type: NotRequired[str]
    trade_state: str  # SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR
    trade_state_desc: NotRequired[str]
    bank_type: NotRequired[str]
    attach: NotRequired[str]
    success_time: NotRequired[str]  # RFC 3339
    payer: NotRequired[Payer]
    amount: NotRequired[TransactionAmount]


class RefundAmountRequest(TypedDict):
    refund: int
    total: int
    currency: str


class RefundRequestBody(TypedDict):
    out_trade_no: str
    out_refund_no: str
    reason: NotRequired[str]
    notify_url: NotRequired[str]
    amount: RefundAmountRequest


class RefundAmount(TypedDict):
    total: int
    refund: int
    payer_total: NotRequired[int]
    payer_refund: NotRequired[int]
    currency: NotRequired[str]


class Refund(TypedDict):
    """A refund API answer (create or query): status in SUCCESS, CLOSED, PROCESSING, ABNORMAL."""

    refund_id: str
    out_refund_no: str
    transaction_id: str
    out_trade_no: str
    status: str
    create_time: NotRequired[str]
    success_time: NotRequired[str]
    user_received_account: NotRequired[str]
    amount: RefundAmount


class RefundNotice(TypedDict):
    """The decrypted resource of a REFUND.* notification (refund_status, not status)."""

    mchid: str
    out_trade_no: str
    transaction_id: str
    out_refund_no: str
    refund_id: str
    refund_status: str
    success_time: NotRequired[str]
    user_received_account: NotRequired[str]
    amount: RefundAmount


class EncryptedResource(TypedDict):
    original_type: str  # "transaction" | "refund"
    algorithm: str  # AEAD_AES_256_GCM
    ciphertext: str  # base64 of ciphertext || 16-byte tag
    associated_data: NotRequired[str]
    nonce: str  # 12 characters, used as UTF-8 bytes


class NotificationBody(TypedDict):
    id: str
    create_time: str
    resource_type: str  # "encrypt-resource"
    event_type: str  # TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED
    summary: str
    resource: EncryptedResource


class TradeBillResponse(TypedDict):
    hash_type: str  # "SHA1"
    hash_value: str
    download_url: str


class ErrorBody(TypedDict):
    code: str
    message: str


# Trade bill columns (providers.md 2.7). Cells are mapped by header name, never by position.
BILL_TIME = "交易时间"
BILL_APPID = "公众账号ID"
BILL_MCHID = "商户号"
BILL_SUB_MCHID = "特约商户号"
BILL_DEVICE = "设备号"
BILL_TRANSACTION_ID = "微信订单号"
BILL_OUT_TRADE_NO = "商户订单号"
BILL_OPENID = "用户标识"
BILL_TRADE_TYPE = "交易类型"
BILL_TRADE_STATE = "交易状态"
BILL_BANK = "付款银行"
BILL_CURRENCY = "货币种类"
BILL_SETTLEMENT_TOTAL = "应结订单金额"
BILL_COUPON = "代金券金额"
BILL_REFUND_ID = "微信退款单号"
BILL_OUT_REFUND_NO = "商户退款单号"
BILL_REFUND = "退款金额"
BILL_COUPON_REFUND = "充值券退款金额"
BILL_REFUND_TYPE = "退款类型"
BILL_REFUND_STATUS = "退款状态"
BILL_SUBJECT = "商品名称"
BILL_ATTACH = "商户数据包"
BILL_FEE = "手续费"
BILL_RATE = "费率"
BILL_ORDER_TOTAL = "订单金额"
BILL_REFUND_REQUESTED = "申请退款金额"
BILL_RATE_NOTE = "费率备注"
BILL_REFUND_APPLY_TIME = "退款申请时间"
BILL_REFUND_SUCCESS_TIME = "退款成功时间"

BILL_COLUMNS_ALL: tuple[str, ...] = (
    BILL_TIME, BILL_APPID, BILL_MCHID, BILL_SUB_MCHID, BILL_DEVICE, BILL_TRANSACTION_ID,
    BILL_OUT_TRADE_NO, BILL_OPENID, BILL_TRADE_TYPE, BILL_TRADE_STATE, BILL_BANK, BILL_CURRENCY,
    BILL_SETTLEMENT_TOTAL, BILL_COUPON, BILL_REFUND_ID, BILL_OUT_REFUND_NO, BILL_REFUND,
    BILL_COUPON_REFUND, BILL_REFUND_TYPE, BILL_REFUND_STATUS, BILL_SUBJECT, BILL_ATTACH, BILL_FEE,
    BILL_RATE, BILL_ORDER_TOTAL, BILL_REFUND_REQUESTED, BILL_RATE_NOTE,
)  # fmt: skip
_REFUND_ONLY = frozenset(
    {BILL_REFUND_ID, BILL_OUT_REFUND_NO, BILL_REFUND, BILL_COUPON_REFUND, BILL_REFUND_TYPE,
     BILL_REFUND_STATUS, BILL_REFUND_REQUESTED}
)  # fmt: skip
BILL_COLUMNS_SUCCESS: tuple[str, ...] = tuple(c for c in BILL_COLUMNS_ALL if c not in _REFUND_ONLY)
_AFTER_COUPON = BILL_COLUMNS_ALL.index(BILL_COUPON) + 1
BILL_COLUMNS_REFUND: tuple[str, ...] = (
    *BILL_COLUMNS_ALL[:_AFTER_COUPON],
    BILL_REFUND_APPLY_TIME,
    BILL_REFUND_SUCCESS_TIME,
    *BILL_COLUMNS_ALL[_AFTER_COUPON:],
)

BILL_SUMMARY_FIRST = "总交易单数"
BILL_SUMMARY_ALL: tuple[str, ...] = (
    "总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额",
    "申请退款总金额",
)  # fmt: skip
BILL_SUMMARY_SUCCESS: tuple[str, ...] = ("总交易单数", "应结订单总金额", "手续费总金额", "订单总金额")
