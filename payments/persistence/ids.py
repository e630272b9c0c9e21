"""Time-ordered ids: 48 bits of milliseconds then 80 random bits, Crockford base32, with a type prefix.

They sort by creation time (cursor pagination orders by id) and can be made before the row is
inserted (the encryption of a debtor's data binds to the row id).
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str) -> str:
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, r = divmod(value, 32)
        chars.append(_ALPHABET[r])
    return f"{prefix}_{''.join(reversed(chars))}"
