"""Builds the rails: live adapters from merchant configs, or adapters wired to their sandboxes.

The only module that imports a sandbox, so nothing else can reach a simulator by accident in live mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from payments.domain.money import Money
from providers.alipay.client import AlipayProvider
from providers.alipay.config import AlipayConfig
from providers.bankcard.client import BankCardProvider
from providers.bankcard.config import BankCardConfig
from providers.base import Provider
from providers.simulator import NotifyClientFactory, Sandbox, SandboxOptions
from providers.wechatpay.client import WechatPayProvider
from providers.wechatpay.config import WechatPayConfig

RAILS = ("alipay", "wechatpay", "bankcard")
# Providers answer within seconds; a gateway that hangs must not hold a borrower's page for long.
GATEWAY_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass
class Rails:
    providers: dict[str, Provider] = field(default_factory=dict)
    sandboxes: dict[str, Sandbox] = field(default_factory=dict)
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def aclose(self) -> None:
        for sandbox in self.sandboxes.values():
            await sandbox.aclose()
        for client in self._clients:
            await client.aclose()


def _provider(config: AlipayConfig | WechatPayConfig | BankCardConfig, http: httpx.AsyncClient) -> Provider:
    if isinstance(config, AlipayConfig):
        return AlipayProvider(config, http)
    if isinstance(config, WechatPayConfig):
        return WechatPayProvider(config, http)
    return BankCardProvider(config, http)


def live_rails(configs: list[AlipayConfig | WechatPayConfig | BankCardConfig]) -> Rails:
    rails = Rails()
    for config in configs:
        http = httpx.AsyncClient(timeout=GATEWAY_TIMEOUT)
        rails._clients.append(http)
        provider = _provider(config, http)
        rails.providers[provider.name] = provider
    return rails


def sandbox_rails(
    options: SandboxOptions, notify_client_factory: NotifyClientFactory, enabled: tuple[str, ...] = RAILS
) -> Rails:
    """Every enabled rail against its simulator; the simulators' keys are made once under data_dir."""
    from providers.alipay.sandbox import build_sandbox as alipay_sandbox
    from providers.bankcard.sandbox import build_sandbox as bankcard_sandbox
    from providers.wechatpay.sandbox import build_sandbox as wechatpay_sandbox

    builders = {"alipay": alipay_sandbox, "wechatpay": wechatpay_sandbox, "bankcard": bankcard_sandbox}
    rails = Rails()
    for name in enabled:
        config, sandbox = builders[name](options, notify_client_factory)
        http = httpx.AsyncClient(transport=sandbox.transport(), timeout=GATEWAY_TIMEOUT)
        rails._clients.append(http)
        rails.providers[name] = _provider(config, http)
        rails.sandboxes[name] = sandbox
    return rails


# The cashier outcomes every sandbox offers, in one vocabulary, mapped to each simulator's own words.
OUTCOMES = ("pay", "fail", "different_amount", "twice", "no_notify")
_OUTCOME_WORDS = {
    "alipay": {"different_amount": "other_amount"},
    "wechatpay": {},
    "bankcard": {"different_amount": "amount", "no_notify": "silent"},
}


async def sandbox_pay(
    rails: Rails, rail: str, out_trade_no: str, outcome: str = "pay", amount: Money | None = None
) -> None:
    """What a tester's cashier button does, for tests and demos, on any rail."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    word = _OUTCOME_WORDS[rail].get(outcome, outcome)
    sandbox = rails.sandboxes[rail]
    if rail == "wechatpay":
        await sandbox.pay(out_trade_no, word, amount.fen if amount is not None else None)  # type: ignore[attr-defined]
    else:
        await sandbox.pay(out_trade_no, word, amount)  # type: ignore[attr-defined]
