"""Failure policy: a per-backend circuit breaker, in the manner of Kuma PR
#17448 (the per-proxy backoff is common.backoff).

The breaker opens when at least `threshold` DISTINCT proxies failed within
`window` seconds, stays open for `cooldown`, then lets one half-open probe
through: its success closes the breaker, its failure re-opens it. A probe
whose outcome never comes (its proxy was dropped, its task cancelled) must be
released, or the breaker would stay half-open forever.
"""
from __future__ import annotations

from collections.abc import Hashable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class Breaker:
    def __init__(self, threshold: int, window: float, cooldown: float):
        self.threshold, self.window, self.cooldown = max(1, threshold), window, cooldown
        self.state = CLOSED
        self.open_until = 0.0
        self.probe: Hashable | None = None
        self.times_opened = 0
        self._failures: dict[Hashable, float] = {}  # proxy -> time of its last failure

    def allow(self, proxy: Hashable, now: float) -> bool:
        """May `proxy` call the backend now? Takes the half-open probe slot if free."""
        if self.state == OPEN and now >= self.open_until:
            self.state, self.probe = HALF_OPEN, None
        if self.state == CLOSED:
            return True
        if self.state == HALF_OPEN and self.probe is None:
            self.probe = proxy
            return True
        return False

    def record_success(self, proxy: Hashable) -> bool:
        """Returns True if this closed the breaker: the backend works again."""
        self._failures.pop(proxy, None)
        if self.state == CLOSED:
            return False
        self.state, self.probe = CLOSED, None
        self._failures.clear()
        return True

    def record_failure(self, proxy: Hashable, now: float) -> bool:
        """Returns True if this opened (or re-opened) the breaker."""
        if self.state == HALF_OPEN and proxy == self.probe:
            self._open(now)
            return True
        if self.state != CLOSED:  # dispatched before the breaker opened: already counted
            return False
        horizon = now - self.window
        self._failures = {p: t for p, t in self._failures.items() if t > horizon}
        self._failures[proxy] = now
        if len(self._failures) >= self.threshold:
            self._open(now)
            return True
        return False

    def release(self, proxy: Hashable) -> None:
        """The probe ended without an outcome: let another proxy probe."""
        if self.probe == proxy:
            self.probe = None

    def _open(self, now: float) -> None:
        self.state, self.probe = OPEN, None
        self.open_until = now + self.cooldown
        self.times_opened += 1
        self._failures.clear()

    @property
    def failing(self) -> int:
        return len(self._failures)
