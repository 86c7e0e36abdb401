"""Resident memory of a zones process: per idle zone, and per dataplane.

    python bench/memory.py [--zones 50,1000] [--dataplanes 0,10000] [--tree DIR] [--label after]
                           [--out bench/results/memory.json]

- idle zones: a real global, and `mzsim zone --count N` connected to it (no
  mesh, no dataplanes) for the two counts; once every zone is online and 15 s
  have passed, the RSS of the zones process is sampled 3 times, 2 s apart (the
  median is kept). Per zone = the RSS difference / the count difference, so the
  interpreter and imports (the same in both) cancel out.
- dataplanes: one zone with each dataplane count, in a builtin-mTLS mesh with
  1 h certificates (each holds a certificate and key, and its DataplaneInsight
  is written); sampled the same way once all are certified. Per dataplane =
  the RSS difference / the dataplane difference.

Targets: at most 0.15 MB per idle zone and 5 KB per dataplane. `--tree DIR`
runs the processes from another checkout (a baseline), as bench/scale.py does.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.benchutil import machine, now_iso, progress, write_results  # noqa: E402
from bench.procstat import rss_bytes, tree_pids  # noqa: E402
from bench.scale import active_zones, kds_env, mesh, totals, zone_statuses  # noqa: E402
from mzsim.launcher import Global, Proc, http  # noqa: E402
from mzsim.waiting import free_port_range, wait_port, wait_until  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "memory.json")
SETTLE = 15.0


def zones_rss(pid: int) -> int:
    samples = []
    for _ in range(3):
        samples.append(sum(rss_bytes(p) for p in tree_pids(pid)))
        time.sleep(2)
    return int(statistics.median(samples))


def measure(args, workdir: str, zones: int, dps: int, with_mesh: bool) -> dict:
    env = {**kds_env(args.liveness), **({"PYTHONPATH": args.tree} if args.tree else {})}
    g = Global(os.path.join(workdir, f"g-{zones}-{dps}"),
               env={"MZSIM_KDS_REQUIRE_ZONE_TOKEN": "false", "MZSIM_KDS_TLS_ENABLED": "false", **env})
    os.makedirs(g.workdir, exist_ok=True)
    zp: Proc | None = None
    pool = ThreadPoolExecutor(16)
    try:
        g.start()
        if with_mesh:
            status, body = http("PUT", g.api + "/meshes/default", mesh("1h"))
            assert status in (200, 201), body
        port = free_port_range(zones)
        argv = ["zone", "--count", str(zones), "--name-prefix", "mz-", "--api-port", str(port),
                "--global-address", g.kds, "--data-dir", os.path.join(g.workdir, "zones")]
        if dps:
            argv += ["--dataplanes", str(dps), "--services", "10"]
        zp = Proc(argv, os.path.join(g.workdir, "zones.log"), env).start()
        wait_port(port + zones - 1, timeout=300)
        wait_until(lambda: zp.exited() or active_zones(g) == zones, 900, interval=2, what=f"{zones} zones online")
        assert zp.alive(), zp.log()[-3000:]
        if with_mesh and dps:
            wait_until(lambda: totals(zone_statuses(port, zones, pool))["certified"] >= zones * dps, 900,
                       interval=2, what=f"{zones * dps} dataplanes certified")
        time.sleep(SETTLE)
        rss = zones_rss(zp.popen.pid)
        progress(f"  {zones} zones x {dps} dataplanes: zones process RSS {rss / 2**20:.1f} MB")
        return {"zones": zones, "dataplanes_per_zone": dps, "rss_mb": round(rss / 2**20, 2), "rss_bytes": rss}
    finally:
        pool.shutdown(wait=False)
        if zp is not None:
            zp.stop()
        if g.proc is not None:
            g.proc.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", default="50,1000", help="two idle-zone counts, comma-separated")
    ap.add_argument("--dataplanes", default="0,10000", help="two dataplane counts for one zone")
    ap.add_argument("--tree", default="", help="run mzsim from this source tree (a baseline checkout)")
    ap.add_argument("--label", default="")
    ap.add_argument("--liveness", default="", help="KDS liveness timeout of both sides (default: the product's)")
    ap.add_argument("--out", default=RESULTS)
    args = ap.parse_args()
    args.out = os.path.abspath(args.out)
    if args.tree:
        args.tree = os.path.abspath(args.tree)
        os.chdir(args.tree)  # `python -m mzsim` looks in the working directory first
    z1, z2 = (int(x) for x in args.zones.split(","))
    d1, d2 = (int(x) for x in args.dataplanes.split(","))
    workdir = tempfile.mkdtemp(prefix="mzsim-memory-")
    try:
        progress(f"idle zones: {z1} and {z2} ({args.label or 'this tree'})")
        small, large = measure(args, workdir, z1, 0, False), measure(args, workdir, z2, 0, False)
        progress(f"one zone: {d1} and {d2} dataplanes, builtin mTLS")
        few, many = measure(args, workdir, 1, d1, True), measure(args, workdir, 1, d2, True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    per_zone = (large["rss_bytes"] - small["rss_bytes"]) / (z2 - z1)
    per_dp = (many["rss_bytes"] - few["rss_bytes"]) / (d2 - d1)
    out = {"benchmark": "memory", "when": now_iso(), "machine": machine(), "label": args.label,
           "tree": args.tree or ROOT, "idle_zones": [small, large], "dataplanes": [few, many],
           "mb_per_idle_zone": round(per_zone / 2**20, 3), "kb_per_dataplane": round(per_dp / 1024, 2),
           "targets": {"mb_per_idle_zone": 0.15, "kb_per_dataplane": 5.0},
           "meets_targets": per_zone / 2**20 <= 0.15 and per_dp / 1024 <= 5.0}
    progress(f"{out['mb_per_idle_zone']} MB per idle zone (target 0.15), {out['kb_per_dataplane']} KB per "
             f"dataplane (target 5)")
    runs = []
    if os.path.exists(args.out):
        with open(args.out) as f:
            runs = [r for r in json.load(f).get("runs", []) if r.get("label") != args.label]
    write_results(args.out, {"benchmark": "memory", "runs": [*runs, out]})
    progress(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
