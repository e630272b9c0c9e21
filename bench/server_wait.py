"""Waiting for a benchmark's server subprocess to answer /health, or saying why it never did."""

from __future__ import annotations

import asyncio
import subprocess

import httpx


async def wait_for_health(
    http: httpx.AsyncClient, server: subprocess.Popen[bytes], attempts: int = 200
) -> None:
    for _ in range(attempts):
        try:
            if (await http.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            if server.poll() is not None:
                raise RuntimeError("the server exited at start-up") from None
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")
