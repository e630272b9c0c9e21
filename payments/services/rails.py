"""Turning provider settings into rails: live adapters with the merchant's keys, or the sandboxes."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from payments.settings import Settings, SettingsError
from providers.alipay.config import AlipayConfig
from providers.bankcard.config import BankCardConfig
from providers.registry import Rails, live_rails, sandbox_rails
from providers.simulator import SandboxOptions
from providers.wechatpay.config import WechatPayConfig

NotifyClientFactory = Callable[[], httpx.AsyncClient]


def build_rails(settings: Settings, notify_client_factory: NotifyClientFactory | None = None) -> Rails:
    p = settings.providers
    enabled = tuple(n for n in ("alipay", "wechatpay", "bankcard") if getattr(p, n).enabled)
    if settings.mode == "sandbox":
        options = SandboxOptions(
            data_dir=settings.data_path / "sandbox",
            public_base_url=settings.server.public_base_url.rstrip("/"),
            time_factor=p.sandbox_time_factor,
        )
        return sandbox_rails(options, notify_client_factory or _http_notifier, enabled)
    return live_rails([_live_config(settings, name) for name in enabled])


def _http_notifier() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=10.0)


def _need(value: str, name: str) -> str:
    if not value:
        raise SettingsError(f"PAYRECON_PROVIDERS__{name.upper()}: is required in live mode")
    return value


def _live_config(settings: Settings, name: str) -> AlipayConfig | WechatPayConfig | BankCardConfig:
    p = settings.providers
    try:
        if name == "alipay":
            a = p.alipay
            return AlipayConfig(
                mode="live",
                gateway_url=a.gateway_url,
                app_id=_need(a.app_id, "alipay__app_id"),
                seller_id=a.seller_id,
                app_private_key_pem=_need(a.app_private_key, "alipay__app_private_key").encode(),
                alipay_public_key_pem=_need(a.alipay_public_key, "alipay__alipay_public_key").encode(),
                previous_alipay_public_key_pem=a.previous_alipay_public_key.encode(),
            )
        if name == "wechatpay":
            w = p.wechatpay
            keys = {
                _need(w.platform_key_id, "wechatpay__platform_key_id"): _need(
                    w.platform_public_key, "wechatpay__platform_public_key"
                ).encode()
            }
            keys.update({k: v.encode() for k, v in w.extra_platform_public_keys.items()})
            return WechatPayConfig(
                mode="live",
                gateway_url=w.gateway_url,
                mchid=_need(w.mchid, "wechatpay__mchid"),
                appid=_need(w.appid, "wechatpay__appid"),
                merchant_serial_no=_need(w.merchant_serial_no, "wechatpay__merchant_serial_no"),
                merchant_private_key_pem=_need(
                    w.merchant_private_key, "wechatpay__merchant_private_key"
                ).encode(),
                apiv3_key=_need(w.apiv3_key, "wechatpay__apiv3_key"),
                platform_public_keys=keys,
                refund_notify_url=f"{settings.server.public_base_url.rstrip('/')}/notify/wechatpay",
                official_account_appid=w.official_account_appid,
                official_account_secret=w.official_account_secret,
            )
        b = p.bankcard
        return BankCardConfig(
            mode="live",
            gateway_base=b.gateway_base,
            file_url=b.file_url,
            mer_id=_need(b.mer_id, "bankcard__mer_id"),
            signing_key_pem=_need(b.signing_key, "bankcard__signing_key").encode(),
            signing_cert_pem=_need(b.signing_cert, "bankcard__signing_cert").encode(),
            root_cert_pem=_need(b.root_cert, "bankcard__root_cert").encode(),
            middle_cert_pem=_need(b.middle_cert, "bankcard__middle_cert").encode(),
            expected_cn_org=b.expected_cn_org,
            refund_notify_url=f"{settings.server.public_base_url.rstrip('/')}/notify/bankcard",
        )
    except ValueError as exc:
        raise SettingsError(f"PAYRECON_PROVIDERS__{name.upper()}: {exc}") from None
