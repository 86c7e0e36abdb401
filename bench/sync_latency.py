"""Apply-to-all-zones-ACKed latency of KDS, for 1, 10 and 100 zones.

Starts a real global and one `mzsim zone --count N` process per size, then
applies a mesh change `--applies` times and measures, for each apply, the
time from the start of the PUT until the last zone's ACK of that version
reached global (global records ACK times; the bench reads them afterwards, so
its own polling interval does not add to the figure; `ackedAt` has
millisecond resolution).

    python bench/sync_latency.py [--zones 1,10,100] [--applies 50]

Writes bench/results/sync_latency.json. Target: p99 < 100 ms at 100 zones.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.benchutil import write_results  # noqa: E402
from common.timefmt import parse_time  # noqa: E402
from mzsim.launcher import Global, Proc, http  # noqa: E402
from mzsim.waiting import free_port_range, wait_port, wait_until  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "sync_latency.json")


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]


def run_size(workdir: str, zones: int, applies: int) -> dict:
    # plain ws://, as docs/security.md advises for many zones on one box
    g = Global(workdir, env={"MZSIM_KDS_REQUIRE_ZONE_TOKEN": "false", "MZSIM_KDS_TLS_ENABLED": "false"})
    g.start()
    port = free_port_range(zones)
    zp = Proc(["zone", "--count", str(zones), "--name-prefix", "bz-", "--api-port", str(port),
               "--global-address", g.kds, "--data-dir", os.path.join(workdir, "zones")],
              os.path.join(workdir, "zones.log"),
              {"MZSIM_KDS_HEARTBEAT_INTERVAL": "1s", "MZSIM_KDS_LIVENESS_TIMEOUT": "10s"})
    zp.start()
    try:
        wait_port(port + zones - 1, timeout=120)
        wait_until(lambda: sum(1 for z in http("GET", g.api + "/status/zones")[1] if z["active"]) == zones,
                   120, interval=0.2, what=f"{zones} zones online")
        latencies: list[float] = []
        resumed = 0  # zone-applies with no ACK time: the zone resumed at that version after a reconnect
        for i in range(applies):
            t0 = time.time()
            logging_backend = {"name": f"b{i}", "type": "file", "conf": {"path": f"/tmp/{i}"}}
            status, body = http("PUT", g.api + "/meshes/bench",
                                {"type": "Mesh", "name": "bench", "logging": {"backends": [logging_backend]}})
            assert status in (200, 201), body
            version = http("GET", g.api + "/")[1]["version"]

            def all_acked(version: int = version) -> list | None:
                st = http("GET", g.api + "/status/zones")[1]
                done = [z for z in st if z["active"] and (z["ackedVersion"] or 0) >= version]
                return st if len(done) == zones else None

            st = wait_until(all_acked, 30, interval=0.1, what=f"apply {i} acked by all zones")
            # A zone that reconnected mid-run and resumed at this version was never sent it, so it
            # has no ACK time (ackedAt null): it is counted apart, not in the latency.
            acked = [parse_time(z["ackedAt"]).timestamp() for z in st if z["active"] and z.get("ackedAt")]
            resumed += sum(1 for z in st if z["active"] and not z.get("ackedAt"))
            if acked:
                latencies.append(max(acked) - t0)
            print(f"\r  {zones} zones: {i + 1}/{applies} applies", end="", flush=True)
        print()
        ms = [x * 1000 for x in latencies]
        return {"zones": zones, "applies": applies, "p50_ms": round(percentile(ms, 50), 2),
                "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2),
                "mean_ms": round(statistics.mean(ms), 2), "zone_applies_by_resume": resumed}
    finally:
        zp.stop()
        g.proc.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", default="1,10,100")
    ap.add_argument("--applies", type=int, default=50)
    args = ap.parse_args()
    results = []
    for n in [int(x) for x in args.zones.split(",")]:
        workdir = tempfile.mkdtemp(prefix=f"mzsim-bench-{n}-")
        print(f"measuring {n} zones ...", flush=True)
        try:
            results.append(run_size(workdir, n, args.applies))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"  p50 {results[-1]['p50_ms']} ms  p99 {results[-1]['p99_ms']} ms", flush=True)
    out = {"benchmark": "sync_latency", "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
           "target": "p99 < 100 ms at 100 zones", "results": results,
           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_results(RESULTS, out)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
