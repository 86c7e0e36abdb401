"""Knobs of the zone issuance engine: the zone config's `issuance:` section
(YAML `issuance: {backoff_base: 5s}`, MZSIM_ISSUANCE_BACKOFF_BASE, flags), and
what IssuanceEngine consumes."""
from __future__ import annotations

from dataclasses import dataclass

from common.config import duration_field
from common.errors import BadRequest


@dataclass
class IssuanceConfig:
    dp_key_type: str = "ec"  # ec (P-256, fast) or rsa (2048, as Kuma); the zone puts it in the BackendContext
    backoff_base: float = duration_field(5.0, "first retry delay of a failing proxy")
    backoff_cap: float = duration_field(300.0, "longest retry delay")
    backoff_jitter: float = 0.2  # a delay d is drawn from [(1 - jitter) * d, d]
    breaker_threshold: int = 10  # distinct failing proxies within the window that open a backend's breaker
    breaker_window: float = duration_field(60.0)
    breaker_cooldown: float = duration_field(30.0, "open this long, then one half-open probe")
    concurrency: int = 8  # issues in flight per (mesh, backend)
    renew_fraction: float = 0.8  # renew once this much of the actual lifetime has passed, at the latest
    # ... and no sooner than (renew_fraction - renew_jitter) of it: each renewal is drawn uniformly from that
    # band, so rotations spread into a steady rate instead of waves (Kuma renews at exactly 4/5).
    renew_jitter: float = 0.1
    issue_timeout: float = duration_field(60.0, "one backend.issue call, in real seconds")
    insight_flush_interval: float = duration_field(1.0, "DataplaneInsight writes are batched at most this often")

    def check(self) -> None:
        """The knobs that only make sense together (loading sets fields one by one)."""
        if not 0 < self.renew_fraction < 1:
            raise BadRequest(f"issuance.renew_fraction must be between 0 and 1 (exclusive), not "
                             f"{self.renew_fraction}; Kuma renews at 0.8")
        if not 0 <= self.renew_jitter < self.renew_fraction:
            raise BadRequest(f"issuance.renew_jitter must be at least 0 and below renew_fraction "
                             f"({self.renew_fraction}), not {self.renew_jitter}; 0 renews exactly at renew_fraction")
