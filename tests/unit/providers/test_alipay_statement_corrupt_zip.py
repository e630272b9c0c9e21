"""Regressions for what tests/fuzz found in the Alipay bill parser: a zip whose directory reads but whose
detail member is corrupt (bad CRC, broken deflate stream, offsets past the data, encrypted, unknown
compression), or whose detail is not GBK, got past the parser's own checks and reached its last-resort
`except Exception` ("unreadable Alipay bill: BadZipFile"). The parser now names the problem itself."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from providers.alipay import statement
from providers.base import StatementError

DETAIL = "2088000000000001_20250101_业务明细.csv"
CONTENT = "#-----业务明细列表-----\r\n".encode("gb18030") * 8


def _zip(method: int = zipfile.ZIP_DEFLATED, content: bytes = CONTENT) -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr(DETAIL, content)
    return bytearray(buffer.getvalue())


def _central(data: bytearray) -> int:
    return data.index(b"PK\x01\x02")


def _data_start(data: bytearray) -> int:
    name_len, extra_len = struct.unpack("<HH", data[26:30])
    return 30 + name_len + extra_len


def _bad_crc() -> bytes:
    data = _zip(zipfile.ZIP_STORED)
    data[_data_start(data)] ^= 0x01
    return bytes(data)


def _broken_deflate() -> bytes:
    data = _zip()
    data[_data_start(data)] = 0xFF  # block type 3: reserved, an invalid stream
    return bytes(data)


def _encrypted() -> bytes:
    data = _zip()
    central = _central(data)
    data[6] |= 0x01
    data[central + 8] |= 0x01
    return bytes(data)


def _unknown_compression() -> bytes:
    data = _zip()
    central = _central(data)
    data[8:10] = data[central + 10 : central + 12] = struct.pack("<H", 99)
    return bytes(data)


def _offset_before_the_data() -> bytes:
    data = _zip()
    central = _central(data)
    return bytes(data[: central - 1] + data[central:])  # one byte short: every offset points 1 too far back


@pytest.mark.parametrize(
    "data",
    [_bad_crc(), _broken_deflate(), _encrypted(), _unknown_compression(), _offset_before_the_data()],
    ids=["bad-crc", "broken-deflate", "encrypted", "unknown-compression", "offset-before-the-data"],
)
def test_a_corrupt_detail_member_is_a_statement_error_from_the_parser_not_its_safety_net(data: bytes) -> None:
    with pytest.raises(StatementError) as caught:
        statement.parse(data)
    assert "cannot be read from the zip" in str(caught.value)
    assert "unreadable Alipay bill" not in str(caught.value)


def test_a_detail_that_is_not_gbk_is_a_statement_error_naming_gbk() -> None:
    with pytest.raises(StatementError) as caught:
        statement.parse(bytes(_zip(content=b"\x81\x20\xff\xff")))
    assert "not GBK" in str(caught.value)
