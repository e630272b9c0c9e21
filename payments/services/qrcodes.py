"""QR codes for link URLs and provider payloads: error correction M, quiet zone 4, rendered once.

Rendering costs about 10 ms of CPU in pure Python, so callers run it in a worker thread and the
results are cached by content.
"""

from __future__ import annotations

import io
from functools import lru_cache

import anyio
import qrcode
import qrcode.image.svg
from qrcode.image.pure import PyPNGImage


def _matrix(data: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=8)
    code.add_data(data)
    code.make(fit=True)
    return code


@lru_cache(maxsize=4096)
def render_png(data: str) -> bytes:
    out = io.BytesIO()
    _matrix(data).make_image(image_factory=PyPNGImage).save(out)
    return out.getvalue()


@lru_cache(maxsize=4096)
def render_svg(data: str) -> bytes:
    image = _matrix(data).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    return image.to_string(encoding="unicode").encode()


async def png(data: str) -> bytes:
    return await anyio.to_thread.run_sync(render_png, data)


async def svg(data: str) -> bytes:
    return await anyio.to_thread.run_sync(render_svg, data)
