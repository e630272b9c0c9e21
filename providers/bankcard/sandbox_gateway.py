"""The sandbox's UnionPay side without HTTP: request checks, answers, outcomes and files.

sandbox.py adapts it to httpx and to the notification sender; this module only builds texts and
calls `notify(back_url, body)` for each back notification to send.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import date, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from payments.domain.money import Money
from providers.bankcard import sandbox_files, sandbox_pages, transform, wire
from providers.bankcard.crypto import BadSignature, cert_id, sign_fields, verify_with_key
from providers.bankcard.sandbox_book import (
    MASKED_ACC_NO,
    MESSAGES,
    Outcome,
    SandboxAttempt,
    SandboxError,
    SandboxOrder,
    SandboxRefund,
    consume_notice,
    refund_notice,
)
from providers.base import BEIJING, OUT_TRADE_NO

Notify = Callable[[str, bytes], object]

_SAFE_ECHO = re.compile(r"[^&{}\[\]\r\n]{1,1024}")
_URL = re.compile(r"https?://\S+")
_COMMODITY = re.compile(r"commodityName=([^&}]*)")
_ECHOED = (
    "txnType", "txnSubType", "bizType", "accessType", "merId", "orderId", "txnTime", "txnAmt",
    "origQryId", "reqReserved", "settleDate", "fileType",
)  # fmt: skip


class SandboxGateway:
    def __init__(
        self,
        *,
        mer_id: str,
        merchant_cert: x509.Certificate,
        platform_key: rsa.RSAPrivateKey,
        signing_cert_pem: bytes,
        notify: Notify,
        clock: Callable[[], datetime],
    ) -> None:
        merchant_key = merchant_cert.public_key()
        if not isinstance(merchant_key, rsa.RSAPublicKey):
            raise ValueError("the merchant certificate must hold an RSA key")
        self.mer_id = mer_id
        self._merchant_cert_id = cert_id(merchant_cert)
        self._merchant_key = merchant_key
        self._platform_key = platform_key
        self._sign_pub_key_cert = signing_cert_pem.decode("ascii")
        self._notify = notify
        self._clock = clock
        self.started = self._now().date()
        self.orders: dict[str, SandboxOrder] = {}
        self.refunds: dict[str, SandboxRefund] = {}
        self._serial = itertools.count(secrets.randbelow(10**6))

    # -- signing --------------------------------------------------------------------------------

    def sign(self, fields: Mapping[str, str]) -> dict[str, str]:
        return sign_fields({**fields, "signPubKeyCert": self._sign_pub_key_cert}, self._platform_key, None)

    def notification_body(self, fields: Mapping[str, str]) -> bytes:
        return wire.encode_form(self.sign(fields))

    def _checked_request(self, body: bytes) -> dict[str, str]:
        try:
            fields = wire.decode_form(body)
        except wire.WireFormatError as exc:
            raise SandboxError(wire.RESP_FORMAT_ERROR) from exc
        if fields.get("version") != wire.VERSION or fields.get("signMethod") != wire.SIGN_METHOD_CERT:
            raise SandboxError(wire.RESP_FORMAT_ERROR, english="Only version 5.1.0 with signMethod 01.")
        if fields.get("certId") != self._merchant_cert_id:
            raise SandboxError(wire.RESP_BAD_SIGNATURE, english="certId is not a known merchant certificate.")
        try:
            verify_with_key(fields, self._merchant_key)
        except BadSignature as exc:
            raise SandboxError(wire.RESP_BAD_SIGNATURE) from exc
        if fields.get("merId") != self.mer_id:
            raise SandboxError(wire.RESP_BAD_MERCHANT)
        return fields

    def _answer(self, request: Mapping[str, str], code: str, **extra: str) -> str:
        fields = {"version": wire.VERSION, "encoding": wire.ENCODING, "signMethod": wire.SIGN_METHOD_CERT}
        for name in _ECHOED:
            value = request.get(name, "")
            if _SAFE_ECHO.fullmatch(value):
                fields[name] = value
        fields.update(respCode=code, respMsg=MESSAGES.get(code, ("交易失败", ""))[0], **extra)
        return wire.render_response_text(self.sign(fields))

    def _now(self) -> datetime:
        return self._clock().astimezone(BEIJING)

    def _next(self, digits: int) -> str:
        return f"{next(self._serial) % 10**digits:0{digits}d}"

    # -- front consume and the cashier ---------------------------------------------------------

    def front_transaction(self, body: bytes) -> str:
        """Accept a consume form from the browser; return its orderId. Raises SandboxError."""
        fields = self._checked_request(body)
        expected = {"txnType": "01", "txnSubType": "01", "bizType": wire.BIZ_GATEWAY_PAY}
        if any(fields.get(k) != v for k, v in expected.items()) or fields.get("currencyCode") != "156":
            raise SandboxError(wire.RESP_FORMAT_ERROR, english="Only consume (01/01/000201) in CNY.")
        if fields.get("channelType") not in (wire.CHANNEL_PC, wire.CHANNEL_MOBILE):
            raise SandboxError(wire.RESP_FORMAT_ERROR, english="channelType must be 07 or 08.")
        try:
            order_id = fields.get("orderId", "")
            if not OUT_TRADE_NO.fullmatch(order_id):
                raise ValueError("orderId")
            transform.parse_txn_time(fields.get("txnTime", ""))
            amount = transform.fen_from_digits(fields.get("txnAmt", ""))
            timeout = fields.get("payTimeout")
            pay_timeout = transform.parse_txn_time(timeout) if timeout else None
            if amount <= 0 or not all(_URL.fullmatch(fields.get(k, "")) for k in ("frontUrl", "backUrl")):
                raise ValueError("amount or URLs")
        except ValueError as exc:
            raise SandboxError(wire.RESP_FORMAT_ERROR, english=f"Invalid {exc}.") from exc
        existing = self.orders.get(order_id)
        if existing is not None:
            if existing.request == fields:
                return order_id  # the browser re-posted the same form
            raise SandboxError(wire.RESP_DUPLICATE)
        subject = _COMMODITY.search(fields.get("riskRateInfo", ""))
        self.orders[order_id] = SandboxOrder(
            request=fields,
            order_id=order_id,
            txn_time=fields["txnTime"],
            amount_fen=amount,
            front_url=fields["frontUrl"],
            back_url=fields["backUrl"],
            pay_timeout=pay_timeout,
            subject=subject.group(1) if subject else "",
            req_reserved=fields.get("reqReserved", ""),
        )
        return order_id

    def cashier_html(self, order_id: str, action_path: str) -> str:
        order = self.orders.get(order_id)
        if order is None:
            return self.error_html(wire.RESP_NOT_FOUND, "", "")
        status = order.status
        if status != "paid" and order.pay_timeout and self._now() > order.pay_timeout:
            status = "expired"
        view = sandbox_pages.CashierView(
            mer_id=self.mer_id,
            order_id=order.order_id,
            amount_fen=order.amount_fen,
            subject=order.subject,
            pay_timeout=f"{order.pay_timeout:%Y-%m-%d %H:%M:%S}" if order.pay_timeout else "",
            action_path=action_path,
            status=status,
        )
        return sandbox_pages.cashier_page(view)

    def error_html(self, code: str, message: str, english: str) -> str:
        default = MESSAGES.get(code, ("交易失败", "Refused"))
        return sandbox_pages.error_page(code, message or default[0], english or default[1])

    def apply_outcome(self, order_id: str, outcome: Outcome, amount: Money | None) -> str:
        """Record what the cardholder did and send the notifications; return the frontUrl."""
        order = self.orders.get(order_id)
        if order is None:
            raise SandboxError(wire.RESP_NOT_FOUND)
        if order.status == "paid":
            raise SandboxError(wire.RESP_DUPLICATE, "订单已支付", "The order is already paid.")
        now = self._now()
        if order.pay_timeout is not None and now > order.pay_timeout:
            raise SandboxError(wire.RESP_FAILED, "订单已超时", "The order has expired (payTimeout).")
        if outcome == "amount" and (amount is None or amount.fen <= 0):
            raise SandboxError(wire.RESP_FORMAT_ERROR, "金额无效", "A positive amount is needed.")
        fen = amount.fen if outcome == "amount" and amount is not None else order.amount_fen
        code = wire.RESP_FAILED if outcome == "fail" else wire.RESP_SUCCESS
        for _ in range(2 if outcome == "twice" else 1):
            attempt = SandboxAttempt(
                query_id=f"{now:%Y%m%d%H%M%S}{self._next(7)}",
                amount_fen=fen,
                at=now,
                trace_no=self._next(6),
                resp_code=code,
            )
            order.attempts.append(attempt)
            if outcome != "silent":
                self._notify(
                    order.back_url, self.notification_body(consume_notice(self.mer_id, order, attempt))
                )
        return order.front_url

    # -- back transactions ----------------------------------------------------------------------

    def back_transaction(self, body: bytes) -> str:
        try:
            fields = self._checked_request(body)
        except SandboxError as exc:
            return self._answer(_lenient(body), exc.code)
        try:
            refund = self._refund(fields)
        except SandboxError as exc:
            return self._answer(fields, exc.code)
        return self._answer(fields, wire.RESP_SUCCESS, queryId=refund.query_id)

    def _refund(self, fields: dict[str, str]) -> SandboxRefund:
        if (fields.get("txnType"), fields.get("txnSubType")) != (wire.TXN_REFUND, "00"):
            raise SandboxError(wire.RESP_FORMAT_ERROR)
        try:
            order_id = fields.get("orderId", "")
            if not OUT_TRADE_NO.fullmatch(order_id) or not _URL.fullmatch(fields.get("backUrl", "")):
                raise ValueError("orderId or backUrl")
            transform.parse_txn_time(fields.get("txnTime", ""))
            fen = transform.fen_from_digits(fields.get("txnAmt", ""))
        except ValueError as exc:
            raise SandboxError(wire.RESP_FORMAT_ERROR) from exc
        orig = fields.get("origQryId", "")
        existing = self.refunds.get(order_id)
        if existing is not None:
            # Idempotent by the refund's orderId: the same request gets the same refund back.
            if (existing.orig_qry_id, existing.amount_fen) == (orig, fen):
                return existing
            raise SandboxError(wire.RESP_DUPLICATE)
        found = [
            (order, payment)
            for order in self.orders.values()
            for payment in order.payments
            if payment.query_id == orig
        ]
        if not found or fen <= 0:
            raise SandboxError(wire.RESP_ORIGINAL_INVALID)
        order, payment = found[0]
        refunded = sum(r.amount_fen for r in self.refunds.values() if r.orig_qry_id == orig)
        if refunded + fen > payment.amount_fen:
            raise SandboxError(wire.RESP_AMOUNT_EXCEEDED)
        now = self._now()
        refund = SandboxRefund(
            order_id=order_id,
            txn_time=fields["txnTime"],
            orig_qry_id=orig,
            orig_order_id=order.order_id,
            amount_fen=fen,
            query_id=f"{now:%Y%m%d%H%M%S}{self._next(7)}",
            back_url=fields["backUrl"],
            at=now,
            trace_no=self._next(6),
            req_reserved=fields.get("reqReserved", ""),
        )
        self.refunds[order_id] = refund
        self._notify(refund.back_url, self.notification_body(refund_notice(self.mer_id, refund)))
        return refund

    # -- query ----------------------------------------------------------------------------------

    def query(self, body: bytes) -> str:
        try:
            fields = self._checked_request(body)
        except SandboxError as exc:
            return self._answer(_lenient(body), exc.code)
        if fields.get("txnType") != wire.TXN_QUERY:
            return self._answer(fields, wire.RESP_FORMAT_ERROR)
        order_id, txn_time = fields.get("orderId", ""), fields.get("txnTime", "")
        order = self.orders.get(order_id)
        if order is not None and order.txn_time == txn_time and order.attempts:
            attempt = order.payments[0] if order.payments else order.attempts[-1]
            return self._answer(
                fields,
                wire.RESP_SUCCESS,
                origRespCode=attempt.resp_code,
                origRespMsg=MESSAGES[attempt.resp_code][0],
                queryId=attempt.query_id,
                txnAmt=str(attempt.amount_fen),
                currencyCode=wire.CURRENCY_CNY,
            )
        refund = self.refunds.get(order_id)
        if refund is not None and refund.txn_time == txn_time:
            return self._answer(
                fields,
                wire.RESP_SUCCESS,
                origRespCode=wire.RESP_SUCCESS,
                origRespMsg=MESSAGES[wire.RESP_SUCCESS][0],
                queryId=refund.query_id,
                origQryId=refund.orig_qry_id,
                txnAmt=str(refund.amount_fen),
                currencyCode=wire.CURRENCY_CNY,
                # Only what the raw response grammar can carry; the demos warn about &={}[].
                reqReserved=refund.req_reserved if _SAFE_ECHO.fullmatch(refund.req_reserved) else "",
            )
        # A front consume whose card page was never submitted is unknown to UnionPay.
        return self._answer(fields, wire.RESP_NOT_FOUND)

    # -- reconciliation file --------------------------------------------------------------------

    def file_transfer(self, body: bytes) -> str:
        try:
            fields = self._checked_request(body)
        except SandboxError as exc:
            return self._answer(_lenient(body), exc.code)
        settle = fields.get("settleDate", "")
        day = self._settle_day(settle)
        if (fields.get("txnType"), fields.get("fileType")) != (wire.TXN_FILE_TRANSFER, "00") or day is None:
            return self._answer(fields, wire.RESP_FORMAT_ERROR)
        if day < self.started:
            return self._answer(fields, wire.RESP_FILE_MISSING)
        return self._answer(
            fields,
            wire.RESP_SUCCESS,
            fileName=sandbox_files.file_name(day, self.mer_id),
            fileContent=sandbox_files.file_content(self.statement_zip(day)),
        )

    def _settle_day(self, mmdd: str) -> date | None:
        """The most recent day with this MMDD, today included (Beijing)."""
        if not re.fullmatch(r"\d{4}", mmdd):
            return None
        today = self._now().date()
        for year in range(today.year, today.year - 5, -1):
            try:
                day = date(year, int(mmdd[:2]), int(mmdd[2:]))
            except ValueError:
                continue
            if day <= today:
                return day
        return None

    def statement_zip(self, day: date) -> bytes:
        """Every payment (notified or not) and refund of the Beijing day, as a ZM zip."""
        entries = [
            sandbox_files.ZmEntry(
                txn_type=wire.TXN_CONSUME,
                txn_time=transform.parse_txn_time(order.txn_time),
                amount_fen=payment.amount_fen,
                query_id=payment.query_id,
                order_id=order.order_id,
                mer_id=self.mer_id,
                trace_no=payment.trace_no,
                masked_acc_no=MASKED_ACC_NO,
            )
            for order in self.orders.values()
            for payment in order.payments
            if payment.at.astimezone(BEIJING).date() == day
        ]
        entries += [
            sandbox_files.ZmEntry(
                txn_type=wire.TXN_REFUND,
                txn_time=transform.parse_txn_time(refund.txn_time),
                amount_fen=refund.amount_fen,
                query_id=refund.query_id,
                order_id=refund.order_id,
                mer_id=self.mer_id,
                trace_no=refund.trace_no,
                masked_acc_no=MASKED_ACC_NO,
                orig_query_id=refund.orig_qry_id,
                orig_order_id=refund.orig_order_id,
            )
            for refund in self.refunds.values()
            if refund.at.astimezone(BEIJING).date() == day
        ]
        return sandbox_files.statement_zip(day, self.mer_id, entries)


def _lenient(body: bytes) -> dict[str, str]:
    """Whatever can be echoed from a request that failed its checks."""
    try:
        return wire.decode_form(body)
    except wire.WireFormatError:
        return {}
