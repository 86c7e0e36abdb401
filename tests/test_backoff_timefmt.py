"""The shared retry delay and time formats."""
from __future__ import annotations

import random

import pytest

from common.backoff import backoff_delay
from common.timefmt import format_optional_time, format_time, parse_time


def test_backoff_doubles_to_the_cap_without_jitter():
    assert [backoff_delay(n, 5, 300, jitter=0) for n in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert backoff_delay(10_000, 5, 300, jitter=0) == 300  # no overflow on a huge attempt count


@pytest.mark.parametrize("jitter", [0.2, 0.5, 1.0])
def test_backoff_jitter_stays_in_its_band(jitter):
    rng = random.Random(7)
    delays = [backoff_delay(3, 1, 100, jitter=jitter, rng=rng) for _ in range(2000)]
    assert min(delays) >= (1 - jitter) * 8 and max(delays) <= 8
    assert max(delays) - min(delays) > 0.9 * jitter * 8  # it does spread over the band


def test_backoff_floor():
    rng = random.Random(1)
    assert min(backoff_delay(0, 1, 10, jitter=1, floor=0.5, rng=rng) for _ in range(500)) == 0.5


def test_time_formats_round_trip():
    ts = 1796160475.25
    assert format_time(ts) == "2026-12-01T21:27:55Z"
    assert format_time(ts, millis=True) == "2026-12-01T21:27:55.250Z"
    assert parse_time(format_time(ts, millis=True)).timestamp() == ts
    assert format_optional_time(None) is None and format_optional_time(0) is None
