"""What the three provider sandboxes share: options, key files, and notification delivery with retries.

A sandbox plays the provider's side of a rail's real protocol. It is an async function from
`httpx.Request` to `httpx.Response`, so the same object serves the rail's client in tests (through
`httpx.MockTransport`) and the demo's browser (mounted under /sandbox/<rail>/ by the API layer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

log = logging.getLogger("payrecon.sandbox")


@dataclass(frozen=True, slots=True)
class SandboxOptions:
    data_dir: Path  # platform keys live here, generated on first start
    public_base_url: str  # e.g. http://127.0.0.1:8000; cashier pages live under /sandbox/<rail>/
    time_factor: float = 60.0  # retry intervals are divided by this (60: a 4-minute retry comes after 4 s)


class Sandbox(Protocol):
    name: str

    async def handle(self, request: httpx.Request) -> httpx.Response:
        """Serve one request addressed to this rail's gateway or cashier (paths under /sandbox/<rail>/)."""
        ...

    def transport(self) -> httpx.AsyncBaseTransport:
        """A transport that routes the rail client's gateway calls straight into `handle`."""
        ...

    async def aclose(self) -> None:
        """Cancel pending notification retries."""
        ...


def load_or_create_rsa_key(path: Path, bits: int = 2048) -> rsa.RSAPrivateKey:
    """Load a PKCS#8 PEM private key, or generate and store one (mode 0600) if the file is missing."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path.name} is not an RSA private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pem)
    tmp.chmod(0o600)
    tmp.replace(path)
    return key


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


Accepted = Callable[[httpx.Response], bool]
NotifyClientFactory = Callable[[], httpx.AsyncClient]


@dataclass
class NotificationDelivery:
    """Posts one notification until the service acknowledges it, on the provider's retry schedule.

    `schedule` holds the provider's real intervals in seconds (first attempt is immediate); each is
    divided by the time factor. `build` makes the request afresh for every attempt, because WeChat
    signs each delivery with a new timestamp and nonce.
    """

    build: Callable[[], httpx.Request]
    accepted: Accepted
    schedule: Sequence[float]
    attempts: list[tuple[datetime, int | None]] = field(default_factory=list)
    acknowledged: bool = False


class NotificationSender:
    """Runs deliveries as background tasks; `drain()` lets tests wait for every pending one."""

    def __init__(self, client_factory: NotifyClientFactory, time_factor: float) -> None:
        self._client_factory = client_factory
        self._time_factor = time_factor
        self._tasks: set[asyncio.Task[None]] = set()
        self.deliveries: list[NotificationDelivery] = []

    def send(self, delivery: NotificationDelivery) -> NotificationDelivery:
        self.deliveries.append(delivery)
        task = asyncio.get_running_loop().create_task(self._run(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return delivery

    async def deliver_now(self, delivery: NotificationDelivery) -> httpx.Response | None:
        """One attempt, awaited: for tests that want the service's answer to a single delivery."""
        return await self._attempt(delivery)

    async def _run(self, delivery: NotificationDelivery) -> None:
        waits = [0.0, *delivery.schedule]
        for wait in waits:
            if wait:
                await asyncio.sleep(wait / self._time_factor)
            await self._attempt(delivery)
            if delivery.acknowledged:
                return
        log.warning("sandbox notification given up after %d attempts", len(delivery.attempts))

    async def _attempt(self, delivery: NotificationDelivery) -> httpx.Response | None:
        request = delivery.build()
        try:
            async with self._client_factory() as client:
                response = await client.send(request)
                await response.aread()
        except httpx.HTTPError as exc:
            log.info("sandbox notification attempt failed: %s", type(exc).__name__)
            delivery.attempts.append((datetime.now(UTC), None))
            return None
        delivery.attempts.append((datetime.now(UTC), response.status_code))
        if delivery.accepted(response):
            delivery.acknowledged = True
        return response

    async def drain(self) -> None:
        """Wait until every pending delivery is acknowledged or given up (callers bound it with a timeout)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
