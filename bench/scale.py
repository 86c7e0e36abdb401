"""N zones x M dataplanes with certificate lifetime L against a real global:
sustained issues per second, CPU and RSS of every process, rotation lag,
expired certificates and lost sessions, over a steady window.

    python bench/scale.py [--cases 100x100,1000x10] [--lifetime 1m] [--duration 300]
                          [--warmup 90] [--procs 1] [--tree DIR] [--label after]
                          [--profile DIR] [--out bench/results/scale.json]

Each case starts a global (plain ws://, no zone tokens, as docs/security.md
advises for many zones on one box; KDS timing at the product defaults), applies
a builtin mesh with `dpCert.rotation.expiration: L`, starts `mzsim zone --count
N --dataplanes M [--procs P]`, waits until every zone is online and every
dataplane holds a certificate, lets it run `--warmup` seconds (past the first
synchronized issue burst), then measures for `--duration` seconds:

- issues/s: certificates issued or renewed in the window, from every zone's /status;
- rotation lag: for each scheduled renewal in the window, the time from the
  renewal time the zone drew for it (inside the jitter band before the 4/5
  point; docs/issuance.md) until the new certificate was held; p50/p99 are the
  upper bounds of the buckets holding them (zone_cp/issuance/rotation.py);
- expired: renewals that completed after the old certificate's notAfter, plus
  dataplanes without a valid certificate at the end;
- sessions lost: zone reconnects in the window (from each zone's KDS
  `connects`), and samples of global's /status/zones with fewer than N active;
- CPU (% of one core) and RSS of global and of every zones process, sampled
  every 5 s from /proc.

`--tree DIR` runs the processes from another checkout (e.g. `git archive main`
unpacked), so a before/after pair runs on the same machine back to back; a tree
without rotation statistics reports lag as null. `--profile DIR` records py-spy
flame graphs (raw collapsed stacks + SVG) of the zones and the global process
during the window (needs root or ptrace rights). The machine is shared: read
figures side by side from one session. Writes JSON to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.benchutil import machine, now_iso, progress, write_results  # noqa: E402
from bench.procstat import ProcSampler, tree_pids  # noqa: E402
from common.kds.protocol import Timing  # noqa: E402
from mzsim.launcher import Global, Proc, http  # noqa: E402
from mzsim.waiting import WaitTimeout, free_port_range, wait_port, wait_until  # noqa: E402
from zone_cp.issuance.rotation import BUCKETS, quantile  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "scale.json")
LE = [*BUCKETS, "+Inf"]


def kds_env(liveness: str = "") -> dict[str, str]:
    """The product's KDS timing (the launcher's test defaults are much tighter), or `liveness`."""
    t = Timing()
    return {"MZSIM_KDS_HEARTBEAT_INTERVAL": f"{t.heartbeat_interval}s",
            "MZSIM_KDS_LIVENESS_TIMEOUT": liveness or f"{t.liveness_timeout}s"}


def mesh(lifetime: str) -> dict:
    return {"type": "Mesh", "name": "default", "mtls": {"enabledBackend": "ca-1", "backends": [
        {"name": "ca-1", "type": "builtin", "dpCert": {"rotation": {"expiration": lifetime}}}]}}


def zone_statuses(port: int, zones: int, pool: ThreadPoolExecutor) -> list[dict]:
    def one(i: int) -> dict:
        status, body = http("GET", f"http://127.0.0.1:{port + i}/status", timeout=30)
        return body if status == 200 and isinstance(body, dict) else {}
    return list(pool.map(one, range(zones)))


def totals(statuses: list[dict]) -> dict:
    out = {"issued": 0, "rotated": 0, "failed": 0, "proxies": 0, "certified": 0, "connects": 0,
           "expired": 0, "renewals": 0, "counts": [0] * len(LE), "has_rotation": True, "answered": 0}
    for s in statuses:
        if not s:
            continue
        out["answered"] += 1
        iss = s.get("issuance", {})
        for k in ("issued", "rotated", "failed", "proxies", "certified"):
            out[k] += iss.get(k, 0)
        out["connects"] += s.get("kds", {}).get("connects", 0)
        rot = iss.get("rotation")
        if rot is None:
            out["has_rotation"] = False
            continue
        out["expired"] += rot["expiredBeforeRenewal"]
        out["renewals"] += rot["renewals"]
        out["counts"] = [a + b for a, b in zip(out["counts"], rot["lateSeconds"]["counts"], strict=True)]
    return out


def active_zones(g: Global) -> int:
    status, body = http("GET", g.api + "/status/zones", timeout=30)
    return sum(1 for z in body if z.get("active")) if status == 200 else -1


def start_profiles(pids: dict[str, int], seconds: int, out_dir: str) -> list[subprocess.Popen]:
    procs = []
    for name, pid in pids.items():
        for fmt, ext in (("raw", "txt"), ("flamegraph", "svg")):
            procs.append(subprocess.Popen(
                ["py-spy", "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "50",
                 "--subprocesses", "--nonblocking", "--format", fmt, "--output",
                 os.path.join(out_dir, f"{name}.{ext}")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def case_dir(root: str, zones: int, dps: int) -> str:
    path = os.path.join(root, f"{zones}x{dps}")
    os.makedirs(path, exist_ok=True)
    return path


def run_case(args, zones: int, dps: int) -> dict:
    workdir = tempfile.mkdtemp(prefix=f"mzsim-scale-{zones}x{dps}-")
    tree_env = {"PYTHONPATH": args.tree} if args.tree else {}
    env = {**kds_env(args.liveness), **tree_env}
    g = Global(workdir, env={"MZSIM_KDS_REQUIRE_ZONE_TOKEN": "false", "MZSIM_KDS_TLS_ENABLED": "false", **env})
    zp: Proc | None = None
    pool = ThreadPoolExecutor(16)
    try:
        g.start()
        status, body = http("PUT", g.api + "/meshes/default", mesh(args.lifetime))
        assert status in (200, 201), body
        port = free_port_range(zones)
        argv = ["zone", "--count", str(zones), "--name-prefix", "sz-", "--api-port", str(port),
                "--global-address", g.kds, "--data-dir", os.path.join(workdir, "zones"),
                "--dataplanes", str(dps), "--services", "10"]
        if args.procs > 1:
            argv += ["--procs", str(args.procs)]
        zp = Proc(argv, os.path.join(workdir, "zones.log"), env).start()
        t_start = time.time()
        wait_port(port + zones - 1, timeout=300)
        wait_until(lambda: (zp is not None and zp.exited()) or active_zones(g) == zones, 900, interval=2,
                   what=f"{zones} zones online")
        assert zp.alive(), zp.log()[-3000:]
        online_s = time.time() - t_start
        n = zones * dps
        wait_until(lambda: totals(zone_statuses(port, zones, pool))["certified"] >= n, 600, interval=2,
                   what=f"{n} dataplanes certified")
        certified_s = time.time() - t_start
        progress(f"  {zones}x{dps}: online after {online_s:.1f}s, all {n} certified after {certified_s:.1f}s; "
                 f"warming up {args.warmup}s")
        time.sleep(args.warmup)
        assert g.proc is not None
        pids = {"global": g.proc.popen.pid, "zones": zp.popen.pid}
        sampler = ProcSampler({"global": [pids["global"]], **{
            ("zones" if pid == pids["zones"] else f"zones-child-{pid}"): [pid] for pid in tree_pids(pids["zones"])}})
        before, t0 = totals(zone_statuses(port, zones, pool)), time.time()
        profiles = start_profiles(pids, args.duration, case_dir(args.profile, zones, dps)) if args.profile else []
        low_samples, min_active = 0, zones
        while time.time() - t0 < args.duration:
            time.sleep(5)
            sampler.sample()
            active = active_zones(g)
            min_active = min(min_active, active)
            low_samples += active < zones
            progress(f"    t+{time.time() - t0:.0f}s: {active}/{zones} active")
        after, t1 = totals(zone_statuses(port, zones, pool)), time.time()
        for p in profiles:
            p.wait(timeout=120)
        window = t1 - t0
        issues = (after["issued"] + after["rotated"]) - (before["issued"] + before["rotated"])
        result: dict = {
            "zones": zones, "dataplanes_per_zone": dps, "lifetime": args.lifetime, "procs": args.procs,
            "window_seconds": round(window, 1), "online_seconds": round(online_s, 1),
            "all_certified_seconds": round(certified_s, 1),
            "issues_per_second": round(issues / window, 1),
            "expected_issues_per_second": round(n / (0.75 * parse_lifetime(args.lifetime)), 1),
            "failed": after["failed"] - before["failed"],
            "sessions_lost": after["connects"] - before["connects"],
            "status_samples_below_all_active": low_samples, "min_active": min_active,
            "uncertified_at_end": max(0, after["proxies"] - after["certified"]),
            "zones_answering": after["answered"], "processes": sampler.summary(),
        }
        if after["has_rotation"]:
            counts = [a - b for a, b in zip(after["counts"], before["counts"], strict=True)]
            result.update({
                "renewals": after["renewals"] - before["renewals"],
                "expired": after["expired"] - before["expired"] + result["uncertified_at_end"],
                "rotation_lag_p50_s": quantile(LE, counts, 0.5), "rotation_lag_p99_s": quantile(LE, counts, 0.99),
                "rotation_lag_buckets": {"le": LE, "counts": counts},
            })
        else:
            result.update({"renewals": None, "expired": result["uncertified_at_end"],
                           "rotation_lag_p50_s": None, "rotation_lag_p99_s": None})
        return result
    finally:
        pool.shutdown(wait=False)
        if zp is not None:
            zp.stop()
        if g.proc is not None:
            g.proc.stop()
        if args.keep:
            progress(f"  kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def parse_lifetime(text: str) -> float:
    from common.durations import parse_duration
    return parse_duration(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="100x100,1000x10", help="comma-separated ZONESxDATAPLANES")
    ap.add_argument("--lifetime", default="1m", help="dpCert.rotation.expiration (Kuma notation)")
    ap.add_argument("--duration", type=int, default=300, help="seconds of steady window")
    ap.add_argument("--warmup", type=int, default=90, help="seconds after all are certified, before the window")
    ap.add_argument("--procs", type=int, default=1, help="mzsim zone --procs P")
    ap.add_argument("--tree", default="", help="run mzsim from this source tree (a baseline checkout)")
    ap.add_argument("--label", default="", help="a name for this run in the results (e.g. before, after)")
    ap.add_argument("--profile", default="", help="directory for py-spy flame graphs of the window")
    ap.add_argument("--liveness", default="", help="KDS liveness timeout of both sides (default: the product's)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, stores)")
    ap.add_argument("--out", default=RESULTS)
    args = ap.parse_args()
    args.out = os.path.abspath(args.out)
    if args.tree:
        # `python -m mzsim` looks in the working directory first, then PYTHONPATH.
        args.tree = os.path.abspath(args.tree)
        os.chdir(args.tree)
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    cases = []
    for c in args.cases.split(","):
        try:
            z, d = (int(x) for x in c.lower().split("x"))
        except ValueError:
            ap.error(f"--cases: {c!r} is not ZONESxDATAPLANES, e.g. 100x100")
        cases.append((z, d))
    for z, d in cases:
        progress(f"case {z} zones x {d} dataplanes, {args.lifetime} certificates ({args.label or 'this tree'})")
        try:
            r = run_case(args, z, d)
        except WaitTimeout as e:  # e.g. the zones never all came online: that is a result too
            r = {"zones": z, "dataplanes_per_zone": d, "lifetime": args.lifetime, "procs": args.procs,
                 "failed_to_start": str(e)}
            progress(f"  did not reach the steady state: {e}")
        else:
            progress(f"  {r['issues_per_second']}/s issues, lag p50 {r['rotation_lag_p50_s']} p99 "
                     f"{r['rotation_lag_p99_s']} s, expired {r['expired']}, sessions lost {r['sessions_lost']}, "
                     f"processes {json.dumps(r['processes'])}")
        record(args, r)  # after each case, so a long run that is stopped keeps what it measured
    progress(f"wrote {os.path.relpath(args.out, os.getcwd())}")
    return 0


def record(args, result: dict) -> None:
    """Add `result` to the run labelled `args.label` in --out (replacing that label's same case);
    other labels' runs stay beside it."""
    runs = []
    if os.path.exists(args.out):
        with open(args.out) as f:
            runs = json.load(f).get("runs", [])
    run = next((r for r in runs if r.get("label") == args.label), None)
    if run is None:
        run = {"label": args.label}
        runs.append(run)
    run.update({"when": now_iso(), "machine": machine(), "tree": args.tree or ROOT,
                "kds_timing": kds_env(args.liveness), "duration": args.duration, "warmup": args.warmup,
                "targets": {"1000x10 at 1m": "5 min steady, 0 sessions lost, 0 expired, rotation-lag p99 < 5 s"}})
    key = (result["zones"], result["dataplanes_per_zone"], result["procs"])
    run["results"] = [x for x in run.get("results", [])
                      if (x["zones"], x["dataplanes_per_zone"], x.get("procs", 1)) != key] + [result]
    write_results(args.out, {"benchmark": "scale", "runs": runs})


if __name__ == "__main__":
    sys.exit(main())
