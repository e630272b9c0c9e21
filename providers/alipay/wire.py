"""Alipay's own vocabulary: method names, field names and the shapes of bodies, as the gateway spells them.

Everything here is plain data. Values on the wire are strings (amounts are yuan strings such as
"100.00"); the mapping to the service's types lives in transform.py.
"""

from __future__ import annotations

from typing import Final, TypedDict

# Methods (the `method` common parameter).
PRECREATE: Final = "alipay.trade.precreate"
WAP_PAY: Final = "alipay.trade.wap.pay"
TRADE_QUERY: Final = "alipay.trade.query"
TRADE_CLOSE: Final = "alipay.trade.close"
TRADE_REFUND: Final = "alipay.trade.refund"
REFUND_QUERY: Final = "alipay.trade.fastpay.refund.query"
BILL_URL_QUERY: Final = "alipay.data.dataservice.bill.downloadurl.query"

WAP_PRODUCT_CODE: Final = "QUICK_WAP_WAY"  # the official value; python-alipay-sdk's QUICK_WAP_PAY is wrong
SIGN_TYPE: Final = "RSA2"
CHARSET: Final = "utf-8"
VERSION: Final = "1.0"
TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"  # Beijing time everywhere on this rail

SUCCESS_CODE: Final = "10000"
ERROR_RESPONSE_KEY: Final = "error_response"

# Trade statuses (`trade_status`).
WAIT_BUYER_PAY: Final = "WAIT_BUYER_PAY"
TRADE_SUCCESS: Final = "TRADE_SUCCESS"
TRADE_FINISHED: Final = "TRADE_FINISHED"
TRADE_CLOSED: Final = "TRADE_CLOSED"

REFUND_SUCCESS: Final = "REFUND_SUCCESS"  # refund query `refund_status`; the literal is unverified

NOTIFY_TYPE: Final = "trade_status_sync"
# The whole acknowledgement: seven lowercase ASCII letters, nothing around them.
ACK_BODY: Final = b"success"

# Seconds between notification attempts after the first one, when `success` does not come back.
RETRY_SCHEDULE: Final = (240.0, 600.0, 600.0, 3600.0, 7200.0, 21600.0, 54000.0)


def response_key(method: str) -> str:
    """The top-level key of a method's synchronous response: dots become underscores."""
    return method.replace(".", "_") + "_response"


class CommonParams(TypedDict, total=False):
    app_id: str
    method: str
    format: str
    charset: str
    sign_type: str
    sign: str
    timestamp: str
    version: str
    notify_url: str
    return_url: str
    biz_content: str  # a JSON string; the exact text is what gets signed


class PrecreateBiz(TypedDict):
    out_trade_no: str
    total_amount: str
    subject: str
    time_expire: str


class WapPayBiz(TypedDict):
    out_trade_no: str
    total_amount: str
    subject: str
    product_code: str
    time_expire: str


class TradeRefBiz(TypedDict):
    """query and close: one of out_trade_no / trade_no; we always use ours."""

    out_trade_no: str


class RefundBiz(TypedDict, total=False):
    out_trade_no: str
    refund_amount: str
    out_request_no: str
    refund_reason: str


class RefundQueryBiz(TypedDict):
    out_trade_no: str
    out_request_no: str


class BillUrlBiz(TypedDict):
    bill_type: str  # "trade": acquiring transactions made through the API
    bill_date: str  # yyyy-MM-dd


class ResponseBase(TypedDict, total=False):
    code: str
    msg: str
    sub_code: str
    sub_msg: str


class PrecreateResponse(ResponseBase, total=False):
    out_trade_no: str
    qr_code: str


class TradeQueryResponse(ResponseBase, total=False):
    trade_no: str
    out_trade_no: str
    trade_status: str
    total_amount: str
    receipt_amount: str
    buyer_pay_amount: str
    send_pay_date: str
    buyer_user_id: str
    buyer_logon_id: str


class TradeCloseResponse(ResponseBase, total=False):
    trade_no: str
    out_trade_no: str


class TradeRefundResponse(ResponseBase, total=False):
    trade_no: str
    out_trade_no: str
    buyer_logon_id: str
    fund_change: str  # "Y": money moved in this call; "N": it did not (e.g. a repeated out_request_no)
    refund_fee: str  # cumulative refunded amount of the trade
    gmt_refund_pay: str


class RefundQueryResponse(ResponseBase, total=False):
    trade_no: str
    out_trade_no: str
    out_request_no: str
    refund_amount: str
    total_amount: str
    refund_status: str
    gmt_refund_pay: str


class BillUrlResponse(ResponseBase, total=False):
    bill_download_url: str


class TradeNotification(TypedDict, total=False):
    """An asynchronous notification, form-encoded in the POST body (all values strings)."""

    notify_time: str
    notify_type: str
    notify_id: str
    app_id: str
    auth_app_id: str
    charset: str
    version: str
    sign_type: str
    sign: str
    trade_no: str
    out_trade_no: str
    out_biz_no: str  # refund notifications: the refund's out_request_no
    buyer_id: str
    buyer_logon_id: str
    seller_id: str
    seller_email: str
    trade_status: str
    total_amount: str
    receipt_amount: str
    invoice_amount: str
    buyer_pay_amount: str
    point_amount: str
    refund_fee: str  # refund notifications: cumulative refunded amount of the trade
    subject: str
    body: str
    gmt_create: str
    gmt_payment: str
    gmt_refund: str  # yyyy-MM-dd HH:mm:ss.SSS
    gmt_close: str
    fund_bill_list: str
    passback_params: str
