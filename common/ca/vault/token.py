"""What the vault backend knows about its token: when it expires, whether and
by how much it can be renewed, and why it cannot be any more.

Pure bookkeeping (no I/O) fed from `auth/token/lookup-self`, `renew-self` and
login responses, so the renewal rules can be read in one place.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Renew once less than this fraction of the token's period is left.
RENEW_FRACTION = 1 / 3


@dataclass
class TokenState:
    renewable: bool
    period: float  # seconds asked for on renewal: the token's creation TTL
    expires_at: float | None  # time.monotonic() deadline; None: never expires
    not_renewable_reason: str = ""  # set once Vault refuses or caps a renewal
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    max_at: float | None = None  # explicit_max_ttl: no renewal goes past it
    max_reason: str = ""

    @classmethod
    def from_lookup(cls, data: dict[str, Any], clock: Callable[[], float] = time.monotonic,
                    wall: Callable[[], float] = time.time) -> TokenState:
        """From `lookup-self` data: ttl (remaining), creation_ttl, renewable, and
        explicit_max_ttl + creation_time, the hard end no renewal passes."""
        ttl = float(data.get("ttl") or 0)
        period = float(data.get("creation_ttl") or ttl)
        renewable = bool(data.get("renewable"))
        reason = "" if renewable else "the token is not renewable"
        state = cls(renewable, period, clock() + ttl if ttl > 0 else None, reason, clock)
        explicit_max = float(data.get("explicit_max_ttl") or 0)
        created = float(data.get("creation_time") or 0)
        if explicit_max > 0 and created > 0:
            state.max_at = clock() + (created + explicit_max - wall())
            state.max_reason = f"the token reaches its explicit_max_ttl of {explicit_max:.0f}s"
            if state.expires_at is None or state.expires_at >= state.max_at - 0.5:
                state.expires_at = state.max_at
                state.not_renewable_reason = state.not_renewable_reason or state.max_reason
        return state

    @classmethod
    def from_auth(cls, auth: dict[str, Any], clock: Callable[[], float] = time.monotonic) -> TokenState:
        """From the `auth` block of a login or renew response."""
        ttl = float(auth.get("lease_duration") or 0)
        renewable = bool(auth.get("renewable"))
        reason = "" if renewable else "the token is not renewable"
        return cls(renewable, ttl, clock() + ttl if ttl > 0 else None, reason, clock)

    def remaining(self) -> float | None:
        if self.expires_at is None:
            return None
        return self.expires_at - self.clock()

    def expired(self) -> bool:
        return self.expires_within(0.0)

    def expires_within(self, seconds: float) -> bool:
        left = self.remaining()
        return left is not None and left <= seconds

    def can_renew(self) -> bool:
        return self.renewable and not self.not_renewable_reason and self.expires_at is not None

    def renewal_due(self) -> bool:
        left = self.remaining()
        return left is not None and left < self.period * RENEW_FRACTION

    def seconds_until_due(self) -> float | None:
        left = self.remaining()
        if left is None:
            return None
        return max(0.0, left - self.period * RENEW_FRACTION)

    def renewed(self, auth: dict[str, Any], warnings: list[str] | None) -> None:
        """Record a renew-self answer. Vault caps renewals at the token's max TTL
        and only warns (or, rounding to whole seconds, not even that); a capped
        renewal means later ones cannot extend it."""
        ttl = float(auth.get("lease_duration") or 0)
        self.expires_at = self.clock() + ttl if ttl > 0 else None
        if self.max_at is not None and self.expires_at is not None and self.expires_at >= self.max_at - 0.5:
            self.expires_at = self.max_at
            self.not_renewable_reason = "; ".join(warnings or []) or self.max_reason
        elif ttl + 1 < self.period or any("max_ttl" in w for w in warnings or []):
            self.not_renewable_reason = "; ".join(warnings or []) or (
                f"vault granted only {ttl:.0f}s of the {self.period:.0f}s asked: the token reached its maximum TTL")

    def refused(self, reason: str) -> None:
        self.not_renewable_reason = reason
