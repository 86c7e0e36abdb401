"""Durations in Kuma's notation: 500ms, 90s, 90m, 24h, 1d, 2w, 2y, and "0"."""
from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
# Kuma's rotation pattern, plus combinations Go's time.ParseDuration takes (1h30m).
_SINGLE = re.compile(r"^(\d+)(y|w|d|h|m|s|ms)$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")

ROTATION_PATTERN = re.compile(r"^(\d+)(y|w|d|h|m|s|ms)$")


class DurationError(ValueError):
    pass


def parse_duration(text: str | int | float) -> float:
    """Return seconds. Accepts '0', single units ('24h') and sums ('1h30m')."""
    if isinstance(text, bool):
        raise DurationError(f"{text!r} is not a duration")
    if isinstance(text, (int, float)):
        if text < 0:
            raise DurationError(f"{text!r} is negative")
        return float(text)
    s = str(text).strip()
    if s == "0":
        return 0.0
    if not s:
        raise DurationError("empty duration; use e.g. 500ms, 90m, 24h, 1d, 2w or 2y")
    pos = 0
    total = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise DurationError(f"{s!r} is not a duration; use e.g. 500ms, 90m, 24h, 1d, 2w or 2y")
    return total


def is_rotation_expiration(text: str) -> bool:
    """Kuma's rule for dpCert.rotation.expiration: one number and one unit, or "0"."""
    return text == "0" or bool(ROTATION_PATTERN.match(text))


def format_duration(seconds: float) -> str:
    """Shortest exact form: 86400 -> '1d', 90 -> '90s', 0.5 -> '500ms'."""
    if seconds == 0:
        return "0"
    ms = round(seconds * 1000)
    for unit in ("y", "w", "d", "h", "m", "s"):
        size = round(_UNITS[unit] * 1000)
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
