"""Verifying and reading WeChat Pay callbacks (providers.md 2.3-2.5)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import rsa

from payments.domain.money import Money
from providers.base import NotificationEvent, NotificationRejected, RejectReason
from providers.wechatpay import crypto
from providers.wechatpay.config import WechatPayConfig
from providers.wechatpay.transform import (
    WireValueError,
    aware,
    fen,
    money,
    obj,
    parse_rfc3339,
    refund_status,
    text,
    trade_status,
)
from providers.wechatpay.wire import AEAD_ALGORITHM

PROVIDER = "wechatpay"
REFUND_EVENTS = frozenset({"REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED"})


def parse_notification(
    config: WechatPayConfig,
    keys: Mapping[str, rsa.RSAPublicKey],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> NotificationEvent:
    try:
        return _parse(config, keys, headers, body, now)
    except NotificationRejected:
        raise
    except Exception as exc:
        # Whatever a hostile body manages to trip, the caller must only ever see a rejection.
        raise NotificationRejected(RejectReason.MALFORMED, type(exc).__name__) from None


def _parse(
    config: WechatPayConfig,
    keys: Mapping[str, rsa.RSAPublicKey],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> NotificationEvent:
    if not isinstance(body, bytes | bytearray):
        raise NotificationRejected(RejectReason.MALFORMED, "body must be the raw bytes received")
    try:
        # The raw bytes, never a re-serialised dict: any change breaks the signature (pitfall 12).
        crypto.check_signed(
            headers, bytes(body), keys, aware(now).timestamp(), config.notify_max_skew_seconds
        )
    except crypto.SignatureCheckFailed as exc:
        raise NotificationRejected(exc.reason, exc.detail) from None

    try:
        envelope = json.loads(bytes(body).decode("utf-8"))
        event_type = text(envelope, "event_type")
        resource = obj(envelope, "resource")
        if text(resource, "algorithm") != AEAD_ALGORITHM:
            raise WireValueError("unsupported resource algorithm")
        nonce = text(resource, "nonce")
        ciphertext = text(resource, "ciphertext")
        associated_data = resource.get("associated_data") or ""
        if not isinstance(associated_data, str):
            raise WireValueError("associated_data must be a string")
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotificationRejected(RejectReason.MALFORMED, str(exc)) from None

    try:
        plain = crypto.aes_gcm_decrypt(config.apiv3_key_bytes, nonce, associated_data, ciphertext)
    except crypto.DecryptFailed as exc:
        raise NotificationRejected(RejectReason.DECRYPT_FAILED, str(exc)) from None

    try:
        data = json.loads(plain.decode("utf-8"))
        if not isinstance(data, dict):
            raise WireValueError("resource is not a JSON object")
        event_id = envelope.get("id") if isinstance(envelope.get("id"), str) else ""
        if event_type.startswith("TRANSACTION."):
            return _payment(config, data, event_type, event_id)
        if event_type in REFUND_EVENTS:
            return _refund(config, data, event_type, event_id)
        raise WireValueError(f"unsupported event_type {event_type!r}")
    except ValueError as exc:
        raise NotificationRejected(RejectReason.MALFORMED, str(exc)) from None


def _ours(config: WechatPayConfig, data: dict[str, object], *, with_appid: bool) -> None:
    mchid = text(data, "mchid")
    if mchid != config.mchid:
        raise NotificationRejected(RejectReason.FOREIGN_MERCHANT, f"mchid {mchid}")
    if with_appid:
        appid = text(data, "appid")
        # JSAPI orders are made under the official account's appid, which may differ from `appid`.
        if appid not in (config.appid, config.jsapi_appid):
            raise NotificationRejected(RejectReason.FOREIGN_MERCHANT, f"appid {appid}")


def _currency_money(amount: dict[str, object], key: str, field: str) -> Money:
    try:
        return money(amount.get(key), amount.get("currency"), field)
    except WireValueError:
        raise
    except ValueError as exc:  # a currency Money does not support
        raise NotificationRejected(RejectReason.CURRENCY_MISMATCH, str(exc)) from None


def _payment(
    config: WechatPayConfig, data: dict[str, object], event_type: str, event_id: str
) -> NotificationEvent:
    _ours(config, data, with_appid=True)
    transaction_id = text(data, "transaction_id")
    trade_state = text(data, "trade_state")
    status = trade_status(trade_state)
    amount = obj(data, "amount")
    total = _currency_money(amount, "total", "amount.total")
    fields = {
        "event_id": event_id,
        "event_type": event_type,
        "appid": text(data, "appid"),
        "mchid": config.mchid,
        "out_trade_no": text(data, "out_trade_no"),
        "transaction_id": transaction_id,
        "trade_state": trade_state,
        "amount.total": str(total.fen),
        "amount.currency": total.currency,
    }
    for key in ("trade_type", "bank_type", "success_time", "attach"):
        if isinstance(data.get(key), str):
            fields[key] = data[key]  # type: ignore[assignment]
    if "payer_total" in amount:
        fields["amount.payer_total"] = str(fen(amount["payer_total"], "amount.payer_total"))
    return NotificationEvent(
        provider=PROVIDER,
        kind="payment",
        event_key=f"{transaction_id}:{trade_state}",
        out_trade_no=fields["out_trade_no"],
        provider_txn_id=transaction_id,
        status=status,
        amount=total,
        merchant_id=config.mchid,
        occurred_at=parse_rfc3339(data.get("success_time")),
        fields=fields,
    )


def _refund(
    config: WechatPayConfig, data: dict[str, object], event_type: str, event_id: str
) -> NotificationEvent:
    _ours(config, data, with_appid=False)
    refund_id = text(data, "refund_id")
    state = text(data, "refund_status")
    status = refund_status(state)
    amount = obj(data, "amount")
    refunded = _currency_money(amount, "refund", "amount.refund")
    total = fen(amount.get("total"), "amount.total")
    fields = {
        "event_id": event_id,
        "event_type": event_type,
        "mchid": config.mchid,
        "out_trade_no": text(data, "out_trade_no"),
        "transaction_id": text(data, "transaction_id"),
        "out_refund_no": text(data, "out_refund_no"),
        "refund_id": refund_id,
        "refund_status": state,
        "amount.refund": str(refunded.fen),
        "amount.total": str(total),
        "amount.currency": refunded.currency,
    }
    if isinstance(data.get("success_time"), str):
        fields["success_time"] = data["success_time"]  # type: ignore[assignment]
    return NotificationEvent(
        provider=PROVIDER,
        kind="refund",
        event_key=f"{refund_id}:{state}",
        out_trade_no=fields["out_trade_no"],
        provider_txn_id=fields["transaction_id"],
        status=status,
        amount=refunded,
        merchant_id=config.mchid,
        occurred_at=parse_rfc3339(data.get("success_time")),
        refund_no=fields["out_refund_no"],
        fields=fields,
    )
