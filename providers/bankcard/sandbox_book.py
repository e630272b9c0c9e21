"""The sandbox's order book: what the simulated UnionPay remembers, and the notices it sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from providers.bankcard import wire

Outcome = Literal["pay", "fail", "amount", "twice", "silent"]

MASKED_ACC_NO = "621661******0018"  # what a sandbox "card" looks like in notifications and files

# Texts for the codes the sandbox uses; the codes themselves are UNVERIFIED (see wire.py).
MESSAGES = {
    wire.RESP_SUCCESS: ("成功[0000000]", "Success"),
    wire.RESP_FAILED: ("交易失败", "Transaction failed"),
    wire.RESP_FORMAT_ERROR: ("报文格式错误", "Malformed message"),
    wire.RESP_BAD_SIGNATURE: ("验证签名失败", "Signature verification failed"),
    wire.RESP_DUPLICATE: ("重复交易", "Duplicate transaction"),
    wire.RESP_BAD_MERCHANT: ("商户状态不正确", "Unknown or disabled merchant"),
    wire.RESP_AMOUNT_EXCEEDED: ("交易金额超限", "Amount exceeds what is refundable"),
    wire.RESP_NOT_FOUND: ("查无此交易", "No such transaction"),
    wire.RESP_ORIGINAL_INVALID: ("原交易不存在或状态不正确", "Original transaction missing or not paid"),
    wire.RESP_FILE_MISSING: ("文件不存在", "No such file"),
}


class SandboxError(Exception):
    """A request or outcome the sandbox refuses, with the respCode UnionPay would give."""

    def __init__(self, code: str, message: str = "", english: str = "") -> None:
        default = MESSAGES.get(code, ("交易失败", "Refused"))
        super().__init__(f"{code}: {english or default[1]}")
        self.code = code
        self.message = message or default[0]
        self.english = english or default[1]


@dataclass
class SandboxAttempt:
    query_id: str
    amount_fen: int
    at: datetime
    trace_no: str
    resp_code: str

    @property
    def succeeded(self) -> bool:
        return self.resp_code in wire.SUCCESS_CODES


@dataclass
class SandboxOrder:
    request: dict[str, str]
    order_id: str
    txn_time: str
    amount_fen: int
    front_url: str
    back_url: str
    pay_timeout: datetime | None
    subject: str
    req_reserved: str
    attempts: list[SandboxAttempt] = field(default_factory=list)

    @property
    def payments(self) -> list[SandboxAttempt]:
        return [attempt for attempt in self.attempts if attempt.succeeded]

    @property
    def status(self) -> str:
        if self.payments:
            return "paid"
        return "failed" if self.attempts else "created"


@dataclass
class SandboxRefund:
    order_id: str  # the refund's own orderId (the merchant's refund number)
    txn_time: str
    orig_qry_id: str
    orig_order_id: str
    amount_fen: int
    query_id: str
    back_url: str
    at: datetime
    trace_no: str
    req_reserved: str


def consume_notice(mer_id: str, order: SandboxOrder, attempt: SandboxAttempt) -> dict[str, str]:
    fields = {
        "version": wire.VERSION,
        "encoding": wire.ENCODING,
        "signMethod": wire.SIGN_METHOD_CERT,
        "txnType": wire.TXN_CONSUME,
        "txnSubType": "01",
        "bizType": wire.BIZ_GATEWAY_PAY,
        "accessType": wire.ACCESS_MERCHANT,
        "merId": mer_id,
        "orderId": order.order_id,
        "txnTime": order.txn_time,
        "txnAmt": str(attempt.amount_fen),
        "currencyCode": wire.CURRENCY_CNY,
        "queryId": attempt.query_id,
        "respCode": attempt.resp_code,
        "respMsg": MESSAGES[attempt.resp_code][0],
        "traceNo": attempt.trace_no,
        "traceTime": f"{attempt.at:%m%d%H%M%S}",
        "accNo": MASKED_ACC_NO,
        "payCardType": "01",
        "reqReserved": order.req_reserved,
    }
    if attempt.succeeded:
        fields.update(
            settleAmt=str(attempt.amount_fen),
            settleCurrencyCode=wire.CURRENCY_CNY,
            settleDate=f"{attempt.at:%m%d}",
        )
    return fields


def refund_notice(mer_id: str, refund: SandboxRefund) -> dict[str, str]:
    return {
        "version": wire.VERSION,
        "encoding": wire.ENCODING,
        "signMethod": wire.SIGN_METHOD_CERT,
        "txnType": wire.TXN_REFUND,
        "txnSubType": "00",
        "bizType": wire.BIZ_GATEWAY_PAY,
        "accessType": wire.ACCESS_MERCHANT,
        "merId": mer_id,
        "orderId": refund.order_id,
        "txnTime": refund.txn_time,
        "txnAmt": str(refund.amount_fen),
        "currencyCode": wire.CURRENCY_CNY,
        "queryId": refund.query_id,
        "origQryId": refund.orig_qry_id,
        "respCode": wire.RESP_SUCCESS,
        "respMsg": MESSAGES[wire.RESP_SUCCESS][0],
        "traceNo": refund.trace_no,
        "traceTime": f"{refund.at:%m%d%H%M%S}",
        "settleAmt": str(refund.amount_fen),
        "settleCurrencyCode": wire.CURRENCY_CNY,
        "settleDate": f"{refund.at:%m%d}",
        "reqReserved": refund.req_reserved,
    }
