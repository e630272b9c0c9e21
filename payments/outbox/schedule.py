"""When to try a message again, from what the receiver answered. Pure: no I/O, no clock of its own.

A message is tried at once, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (each with +-10 %
jitter so a receiver coming back is not hit by every sender at the same second): eight attempts over
about 28 hours. Network errors, timeouts, 408, 429 and 5xx are retried; 429 and 503 wait at least as long
as their Retry-After says. 2xx is delivered. 410 Gone disables the endpoint. Anything else (other 4xx,
redirects, which are never followed) fails the message without retrying it.
"""

from __future__ import annotations

import enum
import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.1
MAX_RETRY_AFTER = timedelta(days=1)
# An endpoint whose every attempt has failed for this long is disabled.
FAILING_LIMIT = timedelta(days=5)


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    GONE = "gone"


def classify(status_code: int | None) -> Outcome:
    """None is a network error or a timeout."""
    if status_code is None or status_code in (408, 429) or status_code >= 500:
        return Outcome.RETRY
    if 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code == 410:
        return Outcome.GONE
    return Outcome.FAILED


def retry_delay(tries: int, rng: random.Random, retry_after: timedelta | None = None) -> timedelta | None:
    """The wait after the `tries`-th failed attempt in a row, or None when the schedule is used up."""
    if tries < 1 or tries > len(RETRY_DELAYS):
        return None
    delay = RETRY_DELAYS[tries - 1] * rng.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as delta-seconds or an HTTP date (RFC 9110 section 10.2.3); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))
