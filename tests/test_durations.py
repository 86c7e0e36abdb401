"""Durations in Kuma's notation."""
from __future__ import annotations

import pytest

from common.durations import DurationError, format_duration, is_rotation_expiration, parse_duration


@pytest.mark.parametrize("text,seconds", [
    ("500ms", 0.5), ("90s", 90), ("90m", 5400), ("24h", 86400), ("1d", 86400), ("2w", 14 * 86400),
    ("2y", 2 * 365 * 86400), ("0", 0), ("0s", 0), ("1h30m", 5400), ("1.5h", 5400), (" 24h ", 86400),
    (30, 30.0), (0.25, 0.25),
])
def test_parse(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["junk", "", "24", "1x", "h", "-1h", "1h 30m", "1hh", "ms", True, -5])
def test_parse_rejects_junk_with_a_hint(text):
    with pytest.raises(DurationError) as e:
        parse_duration(text)
    assert isinstance(e.value, ValueError)


def test_error_message_gives_examples():
    with pytest.raises(DurationError, match="e.g. 500ms, 90m, 24h"):
        parse_duration("soon")


@pytest.mark.parametrize("text,ok", [
    ("500ms", True), ("90m", True), ("24h", True), ("1d", True), ("2w", True), ("2y", True), ("0", True),
    ("1h30m", False), ("1.5h", False), ("0.5d", False), ("", False), ("24", False), ("junk", False), ("1D", False),
])
def test_rotation_expiration_is_kumas_single_unit_pattern(text, ok):
    assert is_rotation_expiration(text) is ok


@pytest.mark.parametrize("seconds,text", [(0, "0"), (0.5, "500ms"), (90, "90s"), (5400, "90m"), (86400, "1d"),
                                          (14 * 86400, "2w"), (2 * 365 * 86400, "2y"), (3600, "1h")])
def test_format_round_trips(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
