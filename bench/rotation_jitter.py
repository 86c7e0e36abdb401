"""Renewal at exactly 4/5 (Kuma) against renewal drawn from the band
[0.7, 0.8] of the lifetime (mzsim's default), side by side in one run: the
same N zone issuance engines x M dataplanes, builtin CA, lifetime L, in one
process and one event loop (as in `mzsim zone --count N`), no KDS.

    python bench/rotation_jitter.py [--zones 20] [--dataplanes 100] [--lifetime 30s]
                                    [--window 60] [--rounds 2] [--ca-key-type rsa]

For each setting and round: all engines start together (every certificate is
issued in one burst, like a new mesh or a zone start), then over `--window`
seconds of renewals it reports

- renewals per second: the mean, and the peak over any 1 s (a wave shows as a
  peak far above the mean);
- rotation lag p50/p99 (the upper bounds of the buckets holding them) and the
  largest: from the renewal time drawn for each certificate to the moment its
  successor was held (zone_cp/issuance/rotation.py);
- renewals completed after the old certificate expired.

Rounds alternate the order of the two settings. Writes
bench/results/rotation_jitter.json.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.benchutil import machine, now_iso, progress, write_results  # noqa: E402
from bench.issuance_engine import dataplanes  # noqa: E402
from common.ca.base import BackendContext  # noqa: E402
from common.durations import parse_duration  # noqa: E402
from common.metrics import Registry  # noqa: E402
from common.resources import Resource  # noqa: E402
from common.store import Store  # noqa: E402
from global_cp.mtls_check import prepare_mesh  # noqa: E402
from zone_cp.issuance import IssuanceConfig, IssuanceEngine  # noqa: E402
from zone_cp.issuance.rotation import BUCKETS, quantile  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "rotation_jitter.json")
LE = [*BUCKETS, "+Inf"]
MESH = "bench"


def mesh_resource(lifetime: str, ca_key_type: str) -> Resource:
    return Resource("Mesh", MESH, None, {"mtls": {"enabledBackend": "ca-1", "backends": [
        {"name": "ca-1", "type": "builtin", "dpCert": {"rotation": {"expiration": lifetime}},
         "conf": {"caCert": {"keyType": ca_key_type}}}]}})


async def one_run(args, jitter: float, mesh: Resource, secrets: list[Resource]) -> dict:
    workdir = tempfile.mkdtemp(prefix="mzsim-bench-jitter-")
    engines: list[IssuanceEngine] = []
    stores: list[Store] = []
    try:
        for z in range(args.zones):
            store = Store(os.path.join(workdir, f"zone-{z}.db"))
            store.apply([mesh, *secrets, *dataplanes(MESH, args.dataplanes)], [])
            stores.append(store)
            ctx = BackendContext(secret_lookup=lambda m, n, s=store: s.get("Secret", n, m), metrics=Registry())
            engines.append(IssuanceEngine(store, ctx, IssuanceConfig(renew_jitter=jitter)))
        n = args.zones * args.dataplanes
        t0 = time.perf_counter()
        for e in engines:
            await e.start()
        while sum(e.counters["issued"] for e in engines) < n:
            await asyncio.sleep(0.1)
        burst = time.perf_counter() - t0
        rotated0 = sum(e.counters["rotated"] for e in engines)
        cpu0, t1 = time.process_time(), time.perf_counter()
        samples = []  # (time, renewals so far), every 0.25 s
        while time.perf_counter() - t1 < args.window:
            await asyncio.sleep(0.25)
            samples.append((time.perf_counter(), sum(e.counters["rotated"] for e in engines)))
        window, cpu = time.perf_counter() - t1, time.process_time() - cpu0
        peak = 0
        for i, (t, c) in enumerate(samples):
            j = next((k for k in range(i, len(samples)) if samples[k][0] - t >= 1.0), None)
            if j is not None:
                peak = max(peak, samples[j][1] - c)
        counts = [0] * len(LE)
        expired, late_max = 0, 0.0
        for e in engines:
            r = e.rotations.as_dict()
            counts = [a + b for a, b in zip(counts, r["lateSeconds"]["counts"], strict=True)]
            expired += r["expiredBeforeRenewal"]
            late_max = max(late_max, r["maxLateSeconds"])
        renewals = sum(e.counters["rotated"] for e in engines) - rotated0
        return {"renew_jitter": jitter, "first_issue_burst_seconds": round(burst, 2),
                "renewals": renewals, "renewals_per_second_mean": round(renewals / window, 1),
                "renewals_per_second_peak_1s": peak, "rotation_lag_p50_s": quantile(LE, counts, 0.5),
                "rotation_lag_p99_s": quantile(LE, counts, 0.99), "rotation_lag_max_s": late_max,
                "expired_before_renewal": expired, "cpu_percent": round(100 * cpu / window, 1),
                "lag_buckets": {"le": LE, "counts": counts}}
    finally:
        for e in engines:
            await e.stop()
        for s in stores:
            s.close()
        shutil.rmtree(workdir, ignore_errors=True)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=int, default=20)
    ap.add_argument("--dataplanes", type=int, default=100)
    ap.add_argument("--lifetime", default="30s")
    ap.add_argument("--window", type=float, default=60.0, help="seconds of renewals measured")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ca-key-type", choices=("ec", "rsa"), default="rsa", help="the builtin CA's key (Kuma: RSA)")
    ap.add_argument("--out", default=RESULTS)
    args = ap.parse_args()
    parse_duration(args.lifetime)
    holder = Store(":memory:")
    mesh = mesh_resource(args.lifetime, args.ca_key_type)
    secrets = await prepare_mesh(mesh, None, BackendContext(
        secret_lookup=lambda m, name: holder.get("Secret", name, m), environment="global"))
    default = IssuanceConfig().renew_jitter
    runs: dict[float, list[dict]] = {0.0: [], default: []}
    for r in range(1, args.rounds + 1):
        for jitter in ((0.0, default) if r % 2 else (default, 0.0)):
            progress(f"round {r}/{args.rounds}: renew_jitter {jitter}, {args.zones} engines x {args.dataplanes} "
                     f"dataplanes, {args.lifetime} certificates, {args.window:g}s of renewals")
            run = await one_run(args, jitter, mesh, secrets)
            runs[jitter].append(run)
            progress(f"  {run['renewals_per_second_mean']}/s mean, peak {run['renewals_per_second_peak_1s']}/s; "
                     f"lag p50 {run['rotation_lag_p50_s']} p99 {run['rotation_lag_p99_s']} max "
                     f"{run['rotation_lag_max_s']} s; expired {run['expired_before_renewal']}")
    result = {"benchmark": "rotation_jitter", "when": now_iso(), "machine": machine(),
              "zones": args.zones, "dataplanes_per_zone": args.dataplanes, "lifetime": args.lifetime,
              "ca_key_type": args.ca_key_type, "window_seconds": args.window, "rounds": args.rounds,
              "exact_four_fifths": runs[0.0], "band": runs[default]}
    write_results(os.path.abspath(args.out), result)
    progress(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
