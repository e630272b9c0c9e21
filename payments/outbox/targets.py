"""Where webhooks may go (the SSRF guard).

An endpoint URL is https; http only to loopback, and only in sandbox mode. Every address the host
resolves to must be public: loopback is allowed in sandbox mode, private ranges only when
`webhooks.allow_private_targets` says so, and link-local (cloud metadata), multicast, unspecified and
reserved addresses never. The check runs when an endpoint is saved and again at every connection
(the transport below resolves, checks and connects to the checked address), so a DNS answer that
changes after registration (rebinding) cannot point a delivery inside the network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

from payments.domain.errors import FieldError

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
MAX_URL = 2000
RESOLVE_TIMEOUT = 5.0


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class TargetPolicy:
    live: bool  # live mode: https only, and no loopback unless private targets are allowed
    allow_private: bool = False

    def allows(self, ip: IP) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback:  # before is_reserved: ::1 is in the reserved ::/8
            return not self.live or self.allow_private
        if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
            return False
        return ip.is_global or self.allow_private


def _literal(host: str) -> IP | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback_name(host: str) -> bool:
    ip = _literal(host)
    return host == "localhost" or (ip is not None and ip.is_loopback)


async def resolve_checked(host: str, port: int, policy: TargetPolicy, resolve: Resolver) -> list[str]:
    """The host's addresses, all allowed by the policy; ValueError saying why not otherwise."""
    ip = _literal(host)
    if ip is not None:
        addresses = [str(ip)]
    else:
        try:
            addresses = await asyncio.wait_for(resolve(host, port), RESOLVE_TIMEOUT)
        except (OSError, TimeoutError):
            raise ValueError(f"the host {host} could not be resolved") from None
        if not addresses:
            raise ValueError(f"the host {host} has no address")
    for address in addresses:
        if not policy.allows(ipaddress.ip_address(address)):
            raise ValueError(
                f"the host {host} resolves to {address}, a private, loopback or reserved address "
                "that webhooks may not be sent to"
            )
    return addresses


async def check_url(url: str, policy: TargetPolicy, resolve: Resolver = system_resolve) -> str:
    """The URL, stripped, if webhooks may go there; a 422 field error on `url` otherwise."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise FieldError("url", f"must be at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "")
    except ValueError:  # an unclosed "[" and the like: not a URL at all
        raise FieldError("url", "must be an absolute https URL") from None
    if scheme not in ("https", "http") or not host:
        raise FieldError("url", "must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise FieldError("url", "must not carry a user name or password")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise FieldError("url", "has an invalid port") from None
    if scheme == "http" and (policy.live or not _is_loopback_name(host)):
        raise FieldError("url", "must use https (plain http is allowed only to loopback, in sandbox mode)")
    try:
        await resolve_checked(host, port, policy, resolve)
    except ValueError as exc:
        raise FieldError("url", str(exc)) from None
    return url


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, checks every address, and connects only to a checked one."""

    def __init__(self, policy: TargetPolicy, resolve: Resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._policy = policy
        self._resolve = resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve_checked(host, port, self._policy, self._resolve)
        except ValueError as exc:
            raise httpcore.ConnectError(f"refused: {exc}") from None
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, *args: typing.Any, **kwargs: typing.Any
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with the guarded connector; TLS still verifies the URL's host name.

    No proxy from the environment (it would connect for us, unchecked).
    """

    def __init__(
        self, policy: TargetPolicy, resolve: Resolver = system_resolve, max_connections: int = 200
    ) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=_GuardedBackend(policy, resolve),
        )
