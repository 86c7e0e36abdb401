"""What the dashboard costs global at 1,000 zones: CPU per pushed update.

Builds global's real pieces in one process (the SQLite config and zone stores,
the ZoneRegistry, the dashboard Feed) with N zones connected (their sessions'
status() as the KDS server's give it) and 3 meshes each reported in their
ZoneInsights, then measures, with time.process_time():

- tick: one update computed (every zone's status, every mesh x zone cell, the
  diff against the last update, the events), in three cases: nothing changed,
  10% of the zones report a new insight, every zone's heartbeat goes silent;
- publish: one delta serialized for the viewers (once, whatever their number);
- the old page's cost for comparison, measured side by side in the same run:
  one poll of /status/zones and /global-insight (it polled once a second per
  open page: statuses + JSON + a scan of every DataplaneInsight).

    python bench/dashboard_feed.py [--zones 1000] [--rounds 20]

Writes bench/results/dashboard_feed.json. The machine is shared with other
work: read the ratios, measured side by side, more than the absolute figures."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.benchutil import machine, now_iso, progress, write_results  # noqa: E402
from common.kds.protocol import SessionStatus  # noqa: E402
from common.resources import Resource  # noqa: E402
from common.store import Store  # noqa: E402
from common.timefmt import format_time  # noqa: E402
from global_cp.config import DashboardConfig  # noqa: E402
from global_cp.dashboard.feed import Feed, sse  # noqa: E402
from global_cp.zones import ZoneRegistry  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "dashboard_feed.json")
MESHES = 3


class Session:
    def __init__(self, acked: int) -> None:
        self.acked, self.last = acked, time.monotonic()

    def __call__(self) -> SessionStatus:
        return SessionStatus(acked_version=self.acked, acked_at=time.monotonic(), in_flight=None, nacks=0,
                             last_nack="", rejected={}, stats={}, protocol_errors=0, last_protocol_error="",
                             peer_errors=(), last_received=self.last, batches_applied=1, last_receive_error="",
                             hello=None, welcome=None)


def insight(zone: str, now: float, failing: int = 0) -> Resource:
    return Resource("ZoneInsight", zone, None, {"environment": "universal", "version": "mzsim-0.1.0",
                                                "meshSummaries": [
        {"mesh": f"mesh-{m}", "backend": "ca-1", "backendType": "builtin", "proxies": 10, "valid": 10 - failing,
         "failing": failing, "expiringSoon": 0, "rotated": 3, "earliestExpiry": format_time(now + 86000 + m),
         "nextRotation": format_time(now + 69000 + m), "breaker": "closed",
         "lastError": "connection refused" if failing else ""} for m in range(MESHES)]})


def cpu_ms(fn, rounds: int) -> tuple[float, object]:
    samples, out = [], None
    for _ in range(rounds):
        t = time.process_time()
        out = fn()
        samples.append((time.process_time() - t) * 1000)
    return statistics.median(samples), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zones", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="mzsim-bench-dash-")
    config, zone_store = Store(os.path.join(d, "global.db")), Store(os.path.join(d, "zones.db"))
    try:
        for m in range(MESHES):
            config.put(Resource("Mesh", f"mesh-{m}", None, {"mtls": {"enabledBackend": "ca-1", "backends": [
                {"name": "ca-1", "type": "builtin"}]}}))
        registry = ZoneRegistry(config, zone_store, "global-bench", 3600.0)
        names = [f"zone-{i}" for i in range(args.zones)]
        sessions = [Session(0) for _ in names]
        progress(f"connecting {args.zones} zones and writing their insights ...")
        for name, s in zip(names, sessions, strict=True):
            registry.connected(name, s, f"{name}-x", "universal")
        for s in sessions:
            s.acked = config.revision
        now = time.time()
        zone_store.apply([insight(n, now) for n in names], [])
        feed = Feed(DashboardConfig(), registry, config, zone_store)
        feed.tick()

        steady_ms, frame = cpu_ms(feed.tick, args.rounds)
        steady_bytes = len(sse(frame))  # type: ignore[arg-type]

        changed = max(1, args.zones // 10)
        turn = [0]

        def churn():
            turn[0] += 1
            zone_store.apply([insight(n, now, failing=turn[0] % 2) for n in names[:changed]], [])
            t = time.process_time()
            out = feed.tick()
            churn.cpu = (time.process_time() - t) * 1000  # type: ignore[attr-defined]
            return out

        churn_samples, churn_bytes = [], []
        for _ in range(args.rounds):
            f = churn()
            churn_samples.append(churn.cpu)  # type: ignore[attr-defined]
            churn_bytes.append(len(sse(f)))
        publish_ms, _ = cpu_ms(lambda: sse(f), args.rounds)

        for s in sessions:  # every zone silent for 5 s: each row's heartbeat is sent once
            s.last -= 5
        silent_ms, frame = cpu_ms(feed.tick, 1)
        silent_bytes = len(sse(frame))  # type: ignore[arg-type]
        snapshot_bytes = len(sse(feed.snapshot()))

        def old_poll():  # what the old page made global do, per open page, every second
            statuses = registry.statuses()
            json.dumps(statuses)
            for ins in zone_store.list("DataplaneInsight"):
                ins.spec.get("mTLS")
            return statuses
        old_ms, _ = cpu_ms(old_poll, args.rounds)

        result = {
            "bench": "dashboard_feed", "when": now_iso(), "machine": machine(), "zones": args.zones,
            "meshes_per_zone": MESHES, "rounds": args.rounds, "push_interval_s": 1.0,
            "cpu_ms_per_update": {"nothing_changed": round(steady_ms, 2),
                                  f"{changed}_zones_changed": round(statistics.median(churn_samples), 2),
                                  "every_heartbeat_went_silent": round(silent_ms, 2)},
            "cpu_ms_to_serialize_one_delta_for_all_viewers": round(publish_ms, 3),
            "bytes": {"snapshot_on_connect": snapshot_bytes, "delta_nothing_changed": steady_bytes,
                      f"delta_{changed}_zones_changed": int(statistics.median(churn_bytes)),
                      "delta_every_heartbeat_went_silent": silent_bytes},
            "old_page_cpu_ms_per_poll_per_viewer": round(old_ms, 2),
            "note": "one process, real stores and registry, no sockets; noisy shared 2-core machine: "
                    "compare the figures measured side by side in this run",
        }
        result["cpu_share_of_one_core_at_1_update_per_s"] = round(
            result["cpu_ms_per_update"][f"{changed}_zones_changed"] / 1000, 4)
        write_results(RESULTS, result)
        print(json.dumps(result, indent=2))
    finally:
        config.close()
        zone_store.close()
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
