"""Per-mesh issuance summaries: what a zone tells global (in its ZoneInsight)
and Prometheus about each mesh's certificates and backend.

One summary per mesh with mTLS enabled: the backend, how many proxies hold a
valid certificate, how many are failing, how many expire soon (less than
EXPIRING_FRACTION of their lifetime left: by then the rotation at 4/5 should
have replaced them), the earliest expiry, the next rotation, the breaker and
the last error. Times are ISO strings so an unchanged summary compares equal
(the ZoneInsight is only rewritten, and resent, when it changes)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from common.timefmt import format_optional_time

from .issuance import IssuanceEngine
from .issuance.state import BACKOFF, BREAKER_OPEN, ERROR

EXPIRING_FRACTION = 0.2
FAILING = frozenset({ERROR, BACKOFF, BREAKER_OPEN})
MAX_ERROR_CHARS = 500  # a backend's error text, quoted; bounded so one insight stays small


def _iso(ts: float | None) -> str | None:
    return format_optional_time(ts)


class _Acc:
    def __init__(self) -> None:
        self.proxies = self.valid = self.failing = self.expiring = self.rotated = 0
        self.earliest: float | None = None
        self.earliest_lifetime: float | None = None
        self.next_rotation: float | None = None
        self.error, self.error_time = "", 0.0


def _accumulate(engine: IssuanceEngine, now: float) -> dict[str, _Acc]:
    acc: dict[str, _Acc] = {}
    for p in engine.reconciler.proxies.values():
        a = acc.get(p.mesh)
        if a is None:
            a = acc[p.mesh] = _Acc()
        a.proxies += 1
        a.rotated += max(0, p.regenerations - 1)
        if p.status in FAILING:
            a.failing += 1
        if p.last_error and (p.last_error_time or 0) >= a.error_time and p.status in FAILING:
            a.error, a.error_time = p.last_error, p.last_error_time or 0.0
        if p.cert is None or p.not_after is None or p.not_after <= now:
            continue
        a.valid += 1
        lifetime = p.not_after - (p.not_before or p.not_after)
        if p.not_after - now < EXPIRING_FRACTION * lifetime:
            a.expiring += 1
        if a.earliest is None or p.not_after < a.earliest:
            a.earliest, a.earliest_lifetime = p.not_after, lifetime
        if p.renew_at is not None and (a.next_rotation is None or p.renew_at < a.next_rotation):
            a.next_rotation = p.renew_at
    return acc


def mesh_summaries(engine: IssuanceEngine) -> list[dict[str, Any]]:
    """One summary per mesh the engine issues for, sorted by mesh."""
    now = engine.clock.now()
    stats = engine.stats()
    acc = _accumulate(engine, now)
    out = []
    for b in stats["backends"]:
        a = acc.get(b["mesh"]) or _Acc()
        error = b["lastError"] or a.error
        out.append({
            "mesh": b["mesh"], "backend": b["backend"], "backendType": b["type"],
            "proxies": a.proxies, "valid": a.valid, "failing": a.failing, "expiringSoon": a.expiring,
            "rotated": a.rotated,
            "earliestExpiry": _iso(a.earliest),
            "earliestExpiryLifetimeSeconds": round(a.earliest_lifetime) if a.earliest_lifetime else None,
            "nextRotation": _iso(a.next_rotation),
            "breaker": b["breaker"], "breakerOpenUntil": b["openUntil"], "breakerTimesOpened": b["timesOpened"],
            "lastError": error[:MAX_ERROR_CHARS],
            "lastErrorTime": _iso(a.error_time) if error and a.error_time else None,
        })
    return sorted(out, key=lambda s: s["mesh"])


def summary_metrics(engine: IssuanceEngine) -> Iterable[Metric]:
    """The zone's certificate series, computed at scrape time: a mesh that goes takes its series along."""
    now = engine.clock.now()
    acc = _accumulate(engine, now)
    labels = ["mesh", "backend"]
    expiry = GaugeMetricFamily("mzsim_cert_earliest_expiry_timestamp_seconds",
                               "Expiry (epoch seconds) of the mesh's valid certificate that expires first",
                               labels=labels)
    lifetime = GaugeMetricFamily("mzsim_cert_earliest_expiry_lifetime_seconds",
                                 "Lifetime (notAfter - notBefore) of the certificate that expires first",
                                 labels=labels)
    failing = GaugeMetricFamily("mzsim_proxies_failing", "Proxies whose last issue failed (error, backoff, "
                                "breaker-open)", labels=labels)
    valid = GaugeMetricFamily("mzsim_proxies_certified", "Proxies holding a valid certificate", labels=labels)
    for b in engine.stats()["backends"]:
        a = acc.get(b["mesh"]) or _Acc()
        values = [b["mesh"], b["backend"]]
        failing.add_metric(values, a.failing)
        valid.add_metric(values, a.valid)
        if a.earliest is not None:
            expiry.add_metric(values, a.earliest)
            lifetime.add_metric(values, a.earliest_lifetime or 0.0)
    return [expiry, lifetime, failing, valid]
