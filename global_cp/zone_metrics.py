"""Global's per-zone series, computed at scrape time from the zone registry, so
a zone that is deleted takes its series along."""
from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .zones import ZoneRegistry


def zone_metrics(zones: ZoneRegistry) -> Iterable[Metric]:
    online = GaugeMetricFamily("mzsim_zone_online", "1 while the zone has a live, heartbeating KDS session",
                               labels=["zone"])
    in_sync = GaugeMetricFamily("mzsim_zone_in_sync", "1 while the zone has ACKed global's current version "
                                "and refuses none of it", labels=["zone"])
    nacks = CounterMetricFamily("mzsim_zone_nacks", "NACKs the zone has sent (over its kept sessions)",
                                labels=["zone"])
    lag = GaugeMetricFamily("mzsim_zone_config_lag", "Config versions the zone is behind global "
                            "(global version minus the zone's acked version)", labels=["zone"])
    for s in zones.statuses():
        name = s["name"]
        online.add_metric([name], 1.0 if s["active"] else 0.0)
        in_sync.add_metric([name], 1.0 if s["active"] and s["inSync"] else 0.0)
        nacks.add_metric([name], float(s.get("nackCount") or 0))
        acked, current = s.get("ackedVersion"), s.get("globalVersion")
        lag.add_metric([name], float(current - acked) if isinstance(acked, int) and isinstance(current, int)
                       else float(current or 0))
    return [online, in_sync, nacks, lag]
