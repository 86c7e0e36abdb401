"""Resync after a global kill -9: time until every zone is back in sync, and
whether the in-sync count only went up on the way.

    python bench/resync.py [--cases 100x0,100x100,1000x10] [--repeat 3] [--tree DIR]
                           [--out bench/results/resync.json]

Each case starts a global (plain ws://, no zone tokens, the product's KDS
timing) with a builtin mesh (1 h certificates, so no rotation interferes) and
`mzsim zone --count N --dataplanes M`, waits until all N zones are in sync,
then `--repeat` times: kill -9 global, start it again on the same data
directory and ports, and sample global's /status/zones every 0.2 s until every
zone is active and in sync (at most 180 s). Per cycle it reports the seconds
from the restart (global listening) to all in sync, the largest fall of the
in-sync count below its running peak (0: monotone), and the zones' reconnect
count. `--tree DIR` runs another checkout's code (a baseline), side by side.

Targets: 100x100 under 5 s and 1000x10 under 15 s, every time, monotone.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.benchutil import machine, now_iso, progress, write_results  # noqa: E402
from bench.scale import kds_env, mesh  # noqa: E402
from mzsim.launcher import Global, Proc, http, watch_resync  # noqa: E402
from mzsim.waiting import free_port_range, wait_port  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "resync.json")


def run_case(args, zones: int, dps: int) -> dict:
    workdir = tempfile.mkdtemp(prefix=f"mzsim-resync-{zones}x{dps}-")
    env = {**kds_env(), **({"PYTHONPATH": args.tree} if args.tree else {})}
    g = Global(workdir, env={"MZSIM_KDS_REQUIRE_ZONE_TOKEN": "false", "MZSIM_KDS_TLS_ENABLED": "false", **env})
    zp: Proc | None = None
    try:
        g.start()
        assert http("PUT", g.api + "/meshes/default", mesh("1h"))[0] in (200, 201)
        port = free_port_range(zones)
        zp = Proc(["zone", "--count", str(zones), "--name-prefix", "rz-", "--api-port", str(port),
                   "--global-address", g.kds, "--data-dir", os.path.join(workdir, "zones"),
                   "--dataplanes", str(dps), "--services", "10"], os.path.join(workdir, "zones.log"), env).start()
        wait_port(port + zones - 1, timeout=300)
        first = watch_resync(g, zones, timeout=600, interval=1)
        assert first["seconds"] is not None, f"{zones} zones never all in sync"
        progress(f"[resync] {zones}x{dps}: all in sync {first['seconds']}s after start; settling 10 s")
        time.sleep(10)
        cycles = []
        for i in range(args.repeat):
            assert g.proc is not None
            g.proc.kill()
            g.start()
            seen = watch_resync(g, zones, timeout=180)
            assert zp.alive(), zp.log()[-3000:]
            counts = [n for _, n in seen["series"]]
            cycles.append({"seconds_to_all_in_sync": seen["seconds"], "largest_drop": seen["largest_drop"],
                           "monotone": seen["largest_drop"] == 0, "samples": len(counts),
                           "in_sync_at_samples": counts[:: max(1, len(counts) // 20)]})
            progress(f"[resync]   cycle {i + 1}: all in sync after {seen['seconds']}s, "
                     f"largest drop {seen['largest_drop']}")
            time.sleep(5)
        done = [c["seconds_to_all_in_sync"] for c in cycles if c["seconds_to_all_in_sync"] is not None]
        return {"zones": zones, "dataplanes_per_zone": dps, "cycles": cycles,
                "all_converged": len(done) == len(cycles), "max_seconds": max(done) if done else None,
                "all_monotone": all(c["monotone"] for c in cycles)}
    finally:
        if zp is not None:
            zp.stop()
        if g.proc is not None:
            g.proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="100x0,100x100,1000x10", help="NxM cases (default 100x0,100x100,1000x10)")
    ap.add_argument("--repeat", type=int, default=3, help="kill -9 cycles per case (default 3)")
    ap.add_argument("--tree", default="", help="run the processes from this checkout (a baseline)")
    ap.add_argument("--label", default="", help="a label stored with the results")
    ap.add_argument("--out", default=RESULTS)
    args = ap.parse_args()
    cases = []
    for spec in args.cases.split(","):
        zones, dps = (int(x) for x in spec.lower().split("x"))
        cases.append(run_case(args, zones, dps))
        write_results(args.out, {"bench": "resync", "when": now_iso(), "machine": machine(), "label": args.label,
                                 "tree": args.tree or "this checkout", "cases": cases})
    progress(f"[resync] written to {args.out}")
    return 0 if all(c["all_converged"] and c["all_monotone"] for c in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
