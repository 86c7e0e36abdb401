"""One place that keeps values read from data sources out of everything a user
or an operator sees.

`datasource.resolve` remembers every value it reads (tokens, keys, passwords,
file contents, inline data). `scrub` replaces them in a text. MzsimError (so
every BackendError, DataSourceError and ValidationError, hence API bodies,
NACK reasons and insights, which all come from error_text) scrubs its own
message, and `install_log_filter` scrubs every log line of the process. So a
backend that quotes what it was sent (a vault that echoes the token in its
error) cannot leak it, without any per-backend code.

Values shorter than MIN_LEN are not remembered: they are not secrets worth the
name, and scrubbing them would garble ordinary words."""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict

MIN_LEN = 8
MAX_REMEMBERED = 4096
MASK = "[redacted]"

_lock = threading.Lock()
_values: OrderedDict[str, None] = OrderedDict()
_ordered: list[str] = []  # longest first, so a value's prefix never wins


def remember(raw: bytes | str) -> None:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    candidates = {text, text.strip(), *(line.strip() for line in text.splitlines())}
    fresh = [c for c in candidates if len(c) >= MIN_LEN and not c.startswith("-----")]
    if not fresh or all(c in _values for c in fresh):
        return  # the common case: a backend reads the same token again
    global _ordered
    with _lock:
        for c in fresh:
            _values[c] = None
            _values.move_to_end(c)
        while len(_values) > MAX_REMEMBERED:
            _values.popitem(last=False)
        _ordered = sorted(_values, key=len, reverse=True)


def scrub(text: str) -> str:
    values = _ordered
    if not values or not text:
        return text
    for v in values:
        if v in text:
            text = text.replace(v, MASK)
    return text


class _Filter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _ordered:
            message = record.getMessage()
            clean = scrub(message)
            if clean != message:
                record.msg, record.args = clean, None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


_FILTER = _Filter()


def install_log_filter() -> None:
    """Scrub every record of every handler of the root logger (call after logging is set up)."""
    for h in logging.getLogger().handlers:
        if _FILTER not in h.filters:
            h.addFilter(_FILTER)
