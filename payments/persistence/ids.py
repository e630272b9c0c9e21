"""Time-ordered ids: 48 bits of milliseconds then 80 random bits, Crockford base32, with a type prefix.

They sort by creation time (cursor pagination orders by id) and can be made before the row is
inserted (the encryption of a debtor's data binds to the row id). Within one process they are strictly
increasing: ids made in the same millisecond (or after the clock stepped back) continue from the last
one, so rows written in one go keep their order (a refund reverses allocations last-written first).
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RANDOM_BITS = 80
_lock = threading.Lock()
_last = 0


def new_id(prefix: str) -> str:
    global _last
    fresh = (time.time_ns() // 1_000_000) << _RANDOM_BITS | int.from_bytes(os.urandom(10), "big")
    with _lock:
        # The random part of the next id in the same millisecond is the last one plus a small random
        # step: still unguessable enough for ordering keys, and never equal or lower.
        value = fresh if fresh > _last else _last + 1 + (int.from_bytes(os.urandom(2), "big"))
        _last = value
    chars = []
    for _ in range(26):
        value, r = divmod(value, 32)
        chars.append(_ALPHABET[r])
    return f"{prefix}_{''.join(reversed(chars))}"
