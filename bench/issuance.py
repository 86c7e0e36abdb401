"""Certificates per second for builtin issuance through the zone engine, against
the raw `cryptography` keygen-and-sign loop on one core, in the same run.

    python bench/issuance.py [--dataplanes 2000] [--rounds 3] [--ca-key-type ec] [--dp-key-type ec]

- raw: one thread makes a data plane key and signs its certificate with the
  same CA, SANs and extensions as the builtin backend, then PEM-encodes both;
- engine: N Dataplanes in a SQLite Store, the IssuanceEngine started, timed
  until every dataplane holds a certificate (and, separately, until every
  DataplaneInsight says "ok"). Run twice: signing on the event loop (the
  default for EC) and in threads (the default when RSA is involved), to show
  why the defaults are what they are.

Each round runs raw, then both engine modes; medians are reported. The ratio
engine/raw is the target: >= 0.5 per core. Writes
bench/results/issuance.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from common.ca.base import BackendContext  # noqa: E402
from common.metrics import Registry  # noqa: E402
from common.resources import Resource  # noqa: E402
from common.store import Store  # noqa: E402
from common.x509util import Identity, cert_to_pem, generate_key, key_to_pem, load_certs, load_key, sign_identity  # noqa: E402
from global_cp.mtls_check import prepare_mesh  # noqa: E402
from zone_cp.issuance import IssuanceConfig, IssuanceEngine  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "issuance.json")
MESH = "bench"


def progress(msg: str) -> None:
    print(msg, flush=True)


def mesh_resource(ca_key_type: str) -> Resource:
    ca_cert = {"keyType": ca_key_type}
    return Resource("Mesh", MESH, None, {"mtls": {"enabledBackend": "ca-1", "backends": [
        {"name": "ca-1", "type": "builtin", "dpCert": {"rotation": {"expiration": "24h"}},
         "conf": {"caCert": ca_cert}}]}})


def dataplanes(n: int, services: int = 10) -> list[Resource]:
    return [Resource("Dataplane", f"dp-{i}", MESH, {"networking": {"address": "10.0.0.1", "inbound": [
        {"port": 8080, "tags": {"kuma.io/service": f"svc-{i % services}", "kuma.io/zone": "bench"}}]}})
        for i in range(n)]


def raw_loop(ca_cert_pem: bytes, ca_key_pem: bytes, dp_key_type: str, count: int) -> dict:
    ca_cert, ca_key = load_certs(ca_cert_pem)[0], load_key(ca_key_pem)
    identity = Identity(MESH, "dp", {"kuma.io/service": ["svc-1"], "kuma.io/zone": ["bench"]})
    cpu0, t0 = time.process_time(), time.perf_counter()
    for _ in range(count):
        key = generate_key(dp_key_type)
        leaf = sign_identity(identity, key.public_key(), ca_cert, ca_key, 86400, backdate_seconds=10)
        cert_to_pem(leaf), key_to_pem(key)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"count": count, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
            "per_second": round(count / wall, 1)}


def median_run(runs: list[dict]) -> dict:
    """The run with the median rate (a real run, so its fields agree with each other)."""
    return dict(sorted(runs, key=lambda r: r["per_second"])[len(runs) // 2])


async def engine_run(workdir: str, mesh: Resource, ca_secrets: list[Resource], n: int, dp_key_type: str,
                     threads: bool) -> dict:
    path = os.path.join(workdir, f"zone-{'threads' if threads else 'inline'}.db")
    store = Store(path)
    store.apply([mesh] + ca_secrets + dataplanes(n), [])
    ctx = BackendContext(secret_lookup=lambda m, name: store.get("Secret", name, m), dp_key_type=dp_key_type,
                         metrics=Registry(), settings={"localca": {"threads": threads}})
    engine = IssuanceEngine(store, ctx, IssuanceConfig())
    cpu0, t0 = time.process_time(), time.perf_counter()
    await engine.start()
    last = t0
    while engine.counters["issued"] < n:
        if engine.counters["failed"]:
            raise SystemExit(f"issuance failed: {engine.stats()['backends']}")
        await asyncio.sleep(0.02)
        if time.perf_counter() - last >= 1:
            last = time.perf_counter()
            progress(f"  engine ({'threads' if threads else 'inline'}): {engine.counters['issued']}/{n} issued")
    issued_at, cpu_issued = time.perf_counter() - t0, time.process_time() - cpu0

    def insights_ok() -> bool:
        return sum(1 for r in store.list("DataplaneInsight", MESH) if r.spec["mTLS"]["status"] == "ok") == n

    while not insights_ok():
        await asyncio.sleep(0.05)
    insights_at = time.perf_counter() - t0
    writes = engine.insights.writes
    await engine.stop()
    store.close()
    return {"mode": "threads" if threads else "inline", "dataplanes": n,
            "seconds_to_all_issued": round(issued_at, 3), "cpu_seconds": round(cpu_issued, 3),
            "per_second": round(n / issued_at, 1), "seconds_to_all_insights_ok": round(insights_at, 3),
            "insight_writes": writes}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataplanes", type=int, default=2000)
    ap.add_argument("--ca-key-type", choices=("ec", "rsa"), default="ec")
    ap.add_argument("--dp-key-type", choices=("ec", "rsa"), default="ec")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=RESULTS)
    args = ap.parse_args()
    n = args.dataplanes
    workdir = tempfile.mkdtemp(prefix="mzsim-bench-issuance-")
    try:
        progress(f"creating a builtin {args.ca_key_type.upper()} CA the way global does")
        holder = Store(":memory:")
        ctx = BackendContext(secret_lookup=lambda m, name: holder.get("Secret", name, m), environment="global")
        mesh = mesh_resource(args.ca_key_type)
        ca_secrets = await prepare_mesh(mesh, None, ctx)
        by_name = {r.name: r for r in ca_secrets}
        cert_pem = by_name[f"{MESH}.ca-builtin-cert-ca-1"].secret_bytes()
        key_pem = by_name[f"{MESH}.ca-builtin-key-ca-1"].secret_bytes()

        # Rounds interleave raw and engine runs, so a noisy neighbour affects both alike;
        # the figures reported are the medians.
        raws, runs = [], {False: [], True: []}
        for r in range(1, args.rounds + 1):
            progress(f"round {r}/{args.rounds}: raw cryptography loop, {n} x ({args.dp_key_type} keygen + sign), "
                     "one thread")
            raws.append(raw_loop(cert_pem, key_pem, args.dp_key_type, n))
            progress(f"  raw: {raws[-1]['per_second']}/s")
            for threads in (False, True):
                progress(f"round {r}/{args.rounds}: engine, {n} dataplanes, signing "
                         f"{'in threads' if threads else 'on the event loop'}")
                run = await engine_run(workdir, mesh, ca_secrets, n, args.dp_key_type, threads)
                run["ratio_to_raw"] = round(run["per_second"] / raws[-1]["per_second"], 3)
                progress(f"  engine ({run['mode']}): {run['per_second']}/s, {run['ratio_to_raw']:.0%} of raw; "
                         f"all insights ok after {run['seconds_to_all_insights_ok']}s")
                runs[threads].append(run)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    raw = median_run(raws)
    summary = []
    for threads in (False, True):
        m = median_run(runs[threads])
        m["ratio_to_raw"] = round(m["per_second"] / raw["per_second"], 3)
        summary.append(m)
    # The backend's own choice (common/ca/localca.py): threads for RSA keys or an RSA CA.
    default = summary[1] if "rsa" in (args.dp_key_type, args.ca_key_type) else summary[0]
    result = {
        "benchmark": "issuance", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "ca_key_type": args.ca_key_type, "dp_key_type": args.dp_key_type,
        "rounds": args.rounds, "raw": raw, "engine": summary,
        "all_rounds": {"raw": raws, "inline": runs[False], "threads": runs[True]},
        "ratio_default_mode": default["ratio_to_raw"], "target_ratio": 0.5,
        "meets_target": default["ratio_to_raw"] >= 0.5,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    progress(f"ratio (default mode, {default['mode']}): {default['ratio_to_raw']:.0%} of the raw loop "
             f"(target 50%); wrote {os.path.relpath(args.out, os.getcwd())}")


if __name__ == "__main__":
    asyncio.run(main())
