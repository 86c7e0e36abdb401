"""The one way times are written: RFC 3339 in UTC (what Kuma's API and
Kubernetes use), e.g. 2026-12-01T21:27:55Z, or with milliseconds."""
from __future__ import annotations

import datetime as dt
import time


def format_time(ts: float, *, millis: bool = False) -> str:
    """Epoch seconds as '2026-12-01T21:27:55Z' (or '...55.123Z')."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    return f"{text}.{int(ts % 1 * 1000):03d}Z" if millis else text + "Z"


def format_optional_time(ts: float | None, *, millis: bool = False) -> str | None:
    """format_time, with None (and 0: never) as None."""
    return format_time(ts, millis=millis) if ts else None


def now_text() -> str:
    return format_time(time.time())


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 time as an aware datetime; ValueError if it is not one."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
