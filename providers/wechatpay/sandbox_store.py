"""The WeChat Pay sandbox's memory: orders, payments and refunds, and the documents it answers with."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime

from providers.base import BEIJING
from providers.wechatpay import wire as w
from providers.wechatpay.jsapi import PATH_JSAPI
from providers.wechatpay.transform import rfc3339

TRADE_TYPES = {w.PATH_NATIVE: "NATIVE", w.PATH_H5: "MWEB", PATH_JSAPI: "JSAPI"}
TRADE_STATE_DESC = {
    "NOTPAY": "未支付",
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "CLOSED": "已关闭",
    "PAYERROR": "支付失败",
}
_ALNUM = string.ascii_letters + string.digits


def random_digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def random_token(n: int = 16) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def transaction_id(at: datetime) -> str:
    # Real ids are 28 digits: a 10-digit prefix, the Beijing date, then a sequence.
    return "4200002086" + at.astimezone(BEIJING).strftime("%Y%m%d") + random_digits(10)


def refund_id(at: datetime) -> str:
    return "50300" + at.astimezone(BEIJING).strftime("%Y%m%d") + random_digits(16)


def openid() -> str:
    return "oSandbox" + random_token(20)


def new_prepay_id(at: datetime) -> str:
    # Real ones: "wx", the Beijing date and time to the second, then 22 hex-ish characters.
    return "wx" + at.astimezone(BEIJING).strftime("%Y%m%d%H%M%S") + secrets.token_hex(11)


@dataclass
class SandboxPayment:
    transaction_id: str
    total: int
    success_time: datetime
    openid: str


@dataclass
class SandboxOrder:
    out_trade_no: str
    appid: str
    mchid: str
    description: str
    notify_url: str
    total: int
    currency: str
    trade_type: str  # NATIVE, MWEB or JSAPI
    token: str
    created_at: datetime
    time_expire: datetime | None
    fingerprint: tuple[object, ...]  # what a repeated create request must match to be idempotent
    trade_state: str = "NOTPAY"
    payments: list[SandboxPayment] = field(default_factory=list)
    # JSAPI only: who may pay (payer.openid of the order) and the id the pay sheet is opened with.
    payer_openid: str = ""
    prepay_id: str = ""

    def transaction(self) -> w.Transaction:
        doc: w.Transaction = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": self.out_trade_no,
            "trade_type": self.trade_type,
            "trade_state": self.trade_state,
            "trade_state_desc": TRADE_STATE_DESC.get(self.trade_state, self.trade_state),
            "attach": "",
        }
        if self.payments:
            doc.update(payment_fields(self.payments[0], self.currency))
        else:
            doc["amount"] = {"total": self.total, "currency": self.currency}
        return doc


def payment_fields(payment: SandboxPayment, currency: str) -> w.Transaction:
    return {  # type: ignore[typeddict-item]
        "transaction_id": payment.transaction_id,
        "bank_type": "OTHERS",
        "success_time": rfc3339(payment.success_time),
        "payer": {"openid": payment.openid},
        "amount": {
            "total": payment.total,
            "payer_total": payment.total,
            "currency": currency,
            "payer_currency": currency,
        },
    }


@dataclass
class SandboxRefund:
    refund_id: str
    out_refund_no: str
    out_trade_no: str
    transaction_id: str
    refund: int
    total: int
    currency: str
    reason: str
    notify_url: str
    create_time: datetime
    status: str = "PROCESSING"
    success_time: datetime | None = None

    def document(self) -> w.Refund:
        doc: w.Refund = {
            "refund_id": self.refund_id,
            "out_refund_no": self.out_refund_no,
            "transaction_id": self.transaction_id,
            "out_trade_no": self.out_trade_no,
            "status": self.status,
            "create_time": rfc3339(self.create_time),
            "user_received_account": "支付用户零钱",
            "amount": {
                "total": self.total,
                "refund": self.refund,
                "payer_total": self.total,
                "payer_refund": self.refund,
                "currency": self.currency,
            },
        }
        if self.success_time is not None:
            doc["success_time"] = rfc3339(self.success_time)
        return doc

    def notice(self, mchid: str) -> w.RefundNotice:
        doc = self.document()
        notice: w.RefundNotice = {
            "mchid": mchid,
            "out_trade_no": self.out_trade_no,
            "transaction_id": self.transaction_id,
            "out_refund_no": self.out_refund_no,
            "refund_id": self.refund_id,
            "refund_status": self.status,
            "user_received_account": doc["user_received_account"],  # type: ignore[typeddict-item]
            "amount": doc["amount"],
        }
        if "success_time" in doc:
            notice["success_time"] = doc["success_time"]
        return notice
