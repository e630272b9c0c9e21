"""The link's QR code (/pay/{token}/qr.png and .svg): decodes back to the link URL, level M, quiet zone 4, cached.

Decoding uses zxing-cpp (a self-contained wheel, test-only); PNGs are read with pypng (already a runtime
dependency of qrcode's pure PNG writer) and SVGs are rasterised here from their path of squares.
"""

from __future__ import annotations

import re

import png
import pytest
import zxingcpp
from sqlalchemy import select

from payments.persistence.tables import Order
from payments.services.qrcodes import render_png
from tests.links.conftest import new_link, pass_check, path_of, start, two_debts

BOX = 8  # pixels per module in the PNG
QUIET = 4  # modules of white border


def _grey(png_bytes: bytes) -> tuple[int, int, bytes]:
    width, height, rows, info = png.Reader(bytes=png_bytes).asDirect()
    planes, depth = info["planes"], info["bitdepth"]
    top = (1 << depth) - 1
    pixels = bytearray()
    for row in rows:
        pixels.extend(v * 255 // top for v in list(row)[::planes])
    return width, height, bytes(pixels)


def _decode(width: int, height: int, pixels: bytes) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(memoryview(pixels).cast("B", (height, width)))


SQUARE = re.compile(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)H[\d.]+z")


def _svg_modules(svg: str) -> tuple[float, set[tuple[int, int]], int]:
    """The dark modules of qrcode's SvgPathImage (one square per module) and the symbol's size in modules."""
    squares = [tuple(map(float, m)) for m in SQUARE.findall(svg)]
    unit = squares[0][2] - squares[0][0]
    view = float(re.search(r'viewBox="0 0 ([\d.]+) [\d.]+"', svg).group(1))
    size = round(view / unit)
    return unit, {(round(x / unit), round(y / unit)) for x, y, _, _ in squares}, size


def _rasterise(svg: str, scale: int = 6) -> tuple[int, int, bytes]:
    _, dark, size = _svg_modules(svg)
    side = size * scale
    pixels = bytearray(b"\xff" * side * side)
    for mx, my in dark:
        for y in range(my * scale, (my + 1) * scale):
            start_ = y * side + mx * scale
            pixels[start_ : start_ + scale] = b"\x00" * scale
    return side, side, bytes(pixels)


async def test_png_decodes_back_to_the_link_url(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link["qr_png_url"]))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/png"
    assert [b.text for b in _decode(*_grey(resp.content))] == [link["url"]]


async def test_png_is_a_qr_code_at_error_correction_m(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link["qr_png_url"]))
    (barcode,) = _decode(*_grey(resp.content))
    assert (barcode.format, barcode.ec_level) == (zxingcpp.BarcodeFormat.QRCode, "M")


async def test_png_has_a_quiet_zone_of_four_modules(client, tenant, browser):
    link = await new_link(client, tenant)
    width, height, pixels = _grey((await browser.get(path_of(link["qr_png_url"]))).content)
    border = QUIET * BOX
    rows = [pixels[y * width : (y + 1) * width] for y in range(height)]
    white_rows = rows[:border] + rows[height - border :]
    assert all(set(r) == {255} for r in white_rows)
    assert all(set(r[:border]) == {255} and set(r[width - border :]) == {255} for r in rows)
    assert 0 in rows[border][border : border + BOX]  # the finder pattern starts right after the quiet zone


async def test_svg_is_served_as_svg(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link["qr_svg_url"]))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/svg+xml"
    assert resp.text.startswith("<svg ") and resp.text.endswith("</svg>")


async def test_svg_decodes_back_to_the_link_url(client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link["qr_svg_url"]))
    assert [b.text for b in _decode(*_rasterise(resp.text))] == [link["url"]]


async def test_svg_has_a_quiet_zone_of_four_modules(client, tenant, browser):
    link = await new_link(client, tenant)
    _, dark, size = _svg_modules((await browser.get(path_of(link["qr_svg_url"]))).text)
    assert min(x for x, _ in dark) == QUIET and min(y for _, y in dark) == QUIET
    assert max(x for x, _ in dark) == size - QUIET - 1 and max(y for _, y in dark) == size - QUIET - 1


@pytest.mark.parametrize("kind", ["png", "svg"])
async def test_qr_images_may_be_kept_by_the_browser_for_a_day(kind, client, tenant, browser):
    link = await new_link(client, tenant)
    resp = await browser.get(path_of(link[f"qr_{kind}_url"]))
    assert resp.headers["cache-control"] == "private, max-age=86400"
    assert resp.headers["referrer-policy"] == "no-referrer"


async def test_the_png_is_rendered_once_and_then_served_from_the_cache(client, tenant, browser):
    link = await new_link(client, tenant)
    render_png.cache_clear()
    first = await browser.get(path_of(link["qr_png_url"]))
    second = await browser.get(path_of(link["qr_png_url"]))
    info = render_png.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert first.content == second.content


async def test_the_qr_needs_no_identity_check(client, tenant, browser):
    link = await new_link(client, tenant)
    browser.cookies.clear()
    resp = await browser.get(path_of(link["qr_png_url"]))
    assert resp.status_code == 200


async def test_the_provider_qr_on_the_order_page_decodes_to_the_providers_payload(
    client, tenant, services, browser
):
    link = await new_link(client, tenant, *two_debts())
    page = await pass_check(browser, link)
    location = (await start(browser, link, "970.00", "wechatpay", page)).headers["location"]
    order = await browser.get(location)
    svg = re.search(r'<div class="qr">(<svg .*?</svg>)</div>', order.text, re.S).group(1)
    async with services.db.sessions() as session:
        payload = await session.scalar(select(Order.qr_payload).where(Order.id == location.rsplit("/", 1)[1]))
    assert payload
    assert [b.text for b in _decode(*_rasterise(svg))] == [payload]
