"""What one zone's full upstream snapshot costs global, at 100 and 1,000 zones.

    python bench/zone_snapshot.py [--zones 100,1000] [--dataplanes 10] [--rounds 5]
                                  [--out bench/results/zone_snapshot.json]

Global's zone-data store (a real SQLite file) holds Z zones x D dataplanes
(a Dataplane and a DataplaneInsight each). One zone then resends its full
snapshot (what it does on every reconnect), unchanged but for one insight, and
global reconciles it with `ZoneDataSink.apply`. Two reconciles are timed side
by side in the same run, on the same store:

- indexed: the shipped path; the stale rows are found by an index range on
  this zone's name prefix, so the cost is that zone's rows;
- scan: the earlier path (`where=` over every row of the kinds, each decoded),
  O(every zone's rows).

Target: the indexed cost does not grow with the number of zones (ratio
1,000-zone / 100-zone close to 1), while the scan grows about tenfold.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.benchutil import machine, now_iso, progress, write_results  # noqa: E402
from common.kds.kinds import UPSTREAM_KINDS  # noqa: E402
from common.kds.messages import Batch  # noqa: E402
from common.resources import Resource  # noqa: E402
from common.store import Store  # noqa: E402
from global_cp.zone_data import ZoneDataSink  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "zone_snapshot.json")


def zone_rows(dps: int, turn: int = 0) -> list[Resource]:
    rows = []
    for i in range(dps):
        rows.append(Resource("Dataplane", f"dp-{i}", "default", {"networking": {
            "address": f"10.0.{i // 250}.{i % 250 + 1}",
            "inbound": [{"port": 8080, "tags": {"kuma.io/service": f"svc-{i % 10}"}}]}}))
        rows.append(Resource("DataplaneInsight", f"dp-{i}", "default", {"mTLS": {
            "status": "ok", "issuedBackend": "ca-1", "certificateRegenerations": 1 + (turn if i == 0 else 0),
            "certificateExpirationTime": "2026-12-02T12:00:00Z"}}))
    return rows


def fill(store: Store, zones: int, dps: int) -> None:
    for z in range(zones):
        ZoneDataSink(store, f"zone-{z}").apply(Batch("fill", True, zone_rows(dps)))


def scan_reconcile(sink: ZoneDataSink, batch: Batch) -> None:
    """The earlier full-snapshot path: every row of the kinds listed and decoded."""
    upserts = [sink._rename(r) for r in batch.upserts]
    sink.store.replace_all([k for k in UPSTREAM_KINDS if k != "ZoneInsight"], upserts,
                           where=lambda r: r.meta.get("zone") == sink.zone)


def measure(workdir: str, zones: int, dps: int, rounds: int) -> dict:
    store = Store(os.path.join(workdir, f"zones-{zones}.db"))
    progress(f"[zone_snapshot] {zones} zones x {dps} dataplanes: filling global's zone-data store ...")
    fill(store, zones, dps)
    sink = ZoneDataSink(store, "zone-0")
    indexed, scan = [], []
    for turn in range(1, rounds + 1):  # alternate, so drift on a shared machine hits both alike
        b = Batch(f"n{turn}", True, zone_rows(dps, turn))
        t = time.perf_counter()
        rejected = sink.apply(b)
        indexed.append((time.perf_counter() - t) * 1000)
        assert not rejected, rejected
        b = Batch(f"s{turn}", True, zone_rows(dps, turn + 1000))
        t = time.perf_counter()
        scan_reconcile(sink, b)
        scan.append((time.perf_counter() - t) * 1000)
    rows = store.count("Dataplane") + store.count("DataplaneInsight")
    assert rows == 2 * zones * dps, f"the reconciles lost rows: {rows}"
    store.close()
    out = {"zones": zones, "dataplanes_per_zone": dps, "rows_in_store": rows,
           "indexed_ms": {"median": round(statistics.median(indexed), 2), "min": round(min(indexed), 2),
                          "max": round(max(indexed), 2)},
           "scan_ms": {"median": round(statistics.median(scan), 2), "min": round(min(scan), 2),
                       "max": round(max(scan), 2)}}
    progress(f"[zone_snapshot]   indexed {out['indexed_ms']['median']} ms, scan {out['scan_ms']['median']} ms "
             f"(median of {rounds})")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zones", default="100,1000", help="comma-separated zone counts (default 100,1000)")
    ap.add_argument("--dataplanes", type=int, default=10, help="dataplanes per zone (default 10)")
    ap.add_argument("--rounds", type=int, default=5, help="reconciles timed per path and count (default 5)")
    ap.add_argument("--out", default=RESULTS)
    args = ap.parse_args()
    counts = [int(c) for c in args.zones.split(",")]
    with tempfile.TemporaryDirectory(prefix="mzsim-zone-snapshot-") as workdir:
        cases = [measure(workdir, z, args.dataplanes, args.rounds) for z in counts]
    first, last = cases[0], cases[-1]
    result = {"bench": "zone_snapshot", "when": now_iso(), "machine": machine(), "cases": cases,
              "growth": {f"indexed_{last['zones']}_over_{first['zones']}":
                         round(last["indexed_ms"]["median"] / first["indexed_ms"]["median"], 2),
                         f"scan_{last['zones']}_over_{first['zones']}":
                         round(last["scan_ms"]["median"] / first["scan_ms"]["median"], 2)},
              "note": "one zone's full snapshot reconciled on global; medians of alternating rounds in one run"}
    write_results(args.out, result)
    progress(f"[zone_snapshot] growth {result['growth']}; written to {args.out}")


if __name__ == "__main__":
    main()
