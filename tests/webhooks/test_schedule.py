"""The retry schedule and what each answer means."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from payments.outbox.schedule import Outcome, classify, parse_retry_after, retry_delay

SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("status", [None, 408, 429, 500, 502, 503, 504])
def test_network_errors_408_429_and_5xx_are_retried(status):
    assert classify(status) is Outcome.RETRY


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_delivered(status):
    assert classify(status) is Outcome.DELIVERED


def test_410_means_the_endpoint_is_gone():
    assert classify(410) is Outcome.GONE


@pytest.mark.parametrize("status", [301, 302, 307, 400, 401, 403, 404, 413, 422])
def test_other_answers_fail_without_retry(status):
    assert classify(status) is Outcome.FAILED


@pytest.mark.parametrize(("tries", "seconds"), list(enumerate(SCHEDULE, start=1)))
def test_the_schedule_is_5s_5min_30min_2h_5h_10h_10h_within_10_percent_jitter(tries, seconds):
    delays = [retry_delay(tries, random.Random(seed)) for seed in range(50)]
    assert all(timedelta(seconds=seconds * 0.9) <= d <= timedelta(seconds=seconds * 1.1) for d in delays)
    assert len(set(delays)) > 1


def test_the_schedule_ends_after_the_seventh_retry():
    assert retry_delay(8, random.Random(1)) is None


def test_retry_after_longer_than_the_schedule_is_waited_for():
    assert retry_delay(1, random.Random(1), timedelta(minutes=2)) == timedelta(minutes=2)


def test_retry_after_shorter_than_the_schedule_does_not_shorten_it():
    assert retry_delay(2, random.Random(1), timedelta(seconds=1)) >= timedelta(seconds=270)


def test_retry_after_is_capped_at_a_day():
    assert retry_delay(1, random.Random(1), timedelta(days=30)) == timedelta(days=1)


def test_retry_after_in_seconds_is_read():
    assert parse_retry_after("120", NOW) == timedelta(seconds=120)


def test_retry_after_as_an_http_date_is_read():
    assert parse_retry_after("Sat, 28 Nov 2026 06:10:00 GMT", NOW) == timedelta(minutes=10)


def test_a_malformed_retry_after_is_ignored():
    assert parse_retry_after("soon", NOW) is None
