"""The SSRF guard: where endpoint URLs may point, checked when saved and again at every connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from payments.domain.errors import FieldError
from payments.outbox.targets import GuardedTransport, TargetPolicy, check_url

LIVE = TargetPolicy(live=True)
SANDBOX = TargetPolicy(live=False)
LIVE_PRIVATE_OK = TargetPolicy(live=True, allow_private=True)


def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolve(_host: str, _port: int) -> list[str]:
        return list(addresses)

    return resolve


async def test_a_public_https_url_is_accepted_in_live_mode():
    url = "https://hooks.example.com/payrecon"
    assert await check_url(url, LIVE, resolving_to("93.184.216.34")) == url


async def test_live_mode_refuses_plain_http():
    with pytest.raises(FieldError, match="https"):
        await check_url("http://hooks.example.com/", LIVE, resolving_to("93.184.216.34"))


async def test_live_mode_refuses_http_even_to_loopback():
    with pytest.raises(FieldError, match="https"):
        await check_url("http://127.0.0.1:8080/", LIVE)


async def test_sandbox_mode_allows_http_to_loopback():
    assert await check_url("http://127.0.0.1:8080/hook", SANDBOX) == "http://127.0.0.1:8080/hook"


async def test_sandbox_mode_refuses_http_to_a_public_host():
    with pytest.raises(FieldError, match="https"):
        await check_url("http://hooks.example.com/", SANDBOX, resolving_to("93.184.216.34"))


async def test_live_mode_refuses_https_to_loopback():
    with pytest.raises(FieldError, match="private"):
        await check_url("https://127.0.0.1/hook", LIVE)


@pytest.mark.parametrize("address", ["10.1.2.3", "172.16.0.9", "192.168.1.1", "100.64.0.1", "fd00::1"])
async def test_an_address_in_a_private_range_is_refused(address):
    with pytest.raises(FieldError, match="private"):
        await check_url("https://hooks.example.com/", LIVE, resolving_to(address))


async def test_a_private_address_is_accepted_when_configured():
    assert await check_url("https://hooks.internal/", LIVE_PRIVATE_OK, resolving_to("10.1.2.3"))


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1", "240.0.0.1"],  # noqa: S104 - a target, not a bind
)
async def test_link_local_multicast_and_reserved_are_refused_even_when_private_is_allowed(address):
    with pytest.raises(FieldError, match="private"):
        await check_url("https://hooks.example.com/", LIVE_PRIVATE_OK, resolving_to(address))


async def test_an_ipv4_mapped_private_address_is_refused():
    with pytest.raises(FieldError, match="private"):
        await check_url("https://[::ffff:10.0.0.1]/", LIVE)


async def test_a_name_with_one_private_address_among_public_ones_is_refused():
    with pytest.raises(FieldError, match="private"):
        await check_url("https://hooks.example.com/", LIVE, resolving_to("93.184.216.34", "10.0.0.1"))


async def test_a_name_that_does_not_resolve_is_refused():
    async def fail(_host: str, _port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(FieldError, match="resolved"):
        await check_url("https://nowhere.invalid/", LIVE, fail)


async def test_a_url_with_a_user_and_password_is_refused():
    with pytest.raises(FieldError, match="password"):
        await check_url("https://user:pw@hooks.example.com/", LIVE, resolving_to("93.184.216.34"))


async def test_a_non_http_scheme_is_refused():
    with pytest.raises(FieldError, match="https"):
        await check_url("ftp://hooks.example.com/", LIVE, resolving_to("93.184.216.34"))


@pytest.fixture
async def loopback_server() -> AsyncIterator[int]:
    """A real HTTP server on 127.0.0.1 that answers 204 to anything."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_the_transport_connects_to_loopback_in_sandbox_mode(loopback_server):
    async with httpx.AsyncClient(transport=GuardedTransport(SANDBOX)) as http:
        assert (await http.post(f"http://127.0.0.1:{loopback_server}/hook")).status_code == 204


async def test_the_transport_refuses_loopback_in_live_mode(loopback_server):
    async with httpx.AsyncClient(transport=GuardedTransport(LIVE)) as http:
        with pytest.raises(httpx.ConnectError, match="refused"):
            await http.post(f"http://127.0.0.1:{loopback_server}/hook")


async def test_the_transport_checks_what_the_name_resolves_to_at_connect_time():
    # A name that was public when the endpoint was saved and now resolves inside (DNS rebinding).
    transport = GuardedTransport(LIVE, resolve=resolving_to("10.0.0.7"))
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError, match="private"):
            await http.post("https://hooks.example.com/hook")


async def test_the_transport_connects_to_the_address_it_checked(loopback_server):
    transport = GuardedTransport(SANDBOX, resolve=resolving_to("127.0.0.1"))
    async with httpx.AsyncClient(transport=transport) as http:
        assert (await http.post(f"http://receiver.test:{loopback_server}/hook")).status_code == 204
