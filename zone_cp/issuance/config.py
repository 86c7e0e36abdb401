"""Knobs of the zone issuance engine (zone_cp/config.IssuanceSettings feeds them)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IssuanceConfig:
    backoff_base: float = 5.0  # first retry delay of a failing proxy, seconds
    backoff_cap: float = 300.0  # longest retry delay
    backoff_jitter: float = 0.2  # a delay d is drawn from [(1 - jitter) * d, d]
    breaker_threshold: int = 10  # distinct failing proxies within the window that open a backend's breaker
    breaker_window: float = 60.0
    breaker_cooldown: float = 30.0  # open this long, then one half-open probe
    concurrency: int = 8  # issues in flight per (mesh, backend)
    renew_fraction: float = 0.8  # renew once this much of the actual lifetime has passed
    issue_timeout: float = 60.0  # one backend.issue call, in real seconds
    insight_flush_interval: float = 0.25  # DataplaneInsight writes are batched at most this often
