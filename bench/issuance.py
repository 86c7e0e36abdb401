"""Certificates per second through the zone issuance engine, against the
same work done directly, in the same run.

    python bench/issuance.py [--cases builtin,vault] [--rounds 3]
        builtin: [--dataplanes 2000] [--ca-key-type ec] [--dp-key-type ec] [--out ...]
        vault:   [--vault-dataplanes 1000] [--vault-rsa-dataplanes 80] [--vault-out ...]

builtin (the default case), against the raw `cryptography` loop on one core:

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

vault: see bench/issuance_vault.py (engine against a direct concurrent hvac
loop on an OpenBao dev server, EC and RSA roles; target >= 0.8). Writes
bench/results/issuance-vault.json.
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

from bench.benchutil import machine, median_run, now_iso, progress, write_results  # noqa: E402
from bench.issuance_engine import dataplanes, time_engine  # noqa: E402
from bench.issuance_vault import RESULTS as VAULT_RESULTS  # noqa: E402
from bench.issuance_vault import vault_case  # noqa: E402
from common.ca.base import BackendContext  # noqa: E402
from common.ca.settings import BackendSettings, LocalCASettings  # noqa: E402
from common.resources import Resource  # noqa: E402
from common.store import Store  # noqa: E402
from common.x509util import Identity, cert_to_pem, generate_key, key_to_pem, load_certs, load_key, sign_identity  # noqa: E402
from global_cp.mtls_check import prepare_mesh  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results", "issuance.json")
MESH = "bench"


def mesh_resource(ca_key_type: str) -> Resource:
    ca_cert = {"keyType": ca_key_type}
    return Resource("Mesh", MESH, None, {"mtls": {"enabledBackend": "ca-1", "backends": [
        {"name": "ca-1", "type": "builtin", "dpCert": {"rotation": {"expiration": "24h"}},
         "conf": {"caCert": ca_cert}}]}})


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


async def engine_run(workdir: str, mesh: Resource, ca_secrets: list[Resource], n: int, dp_key_type: str,
                     threads: bool) -> dict:
    mode = "threads" if threads else "inline"
    timed = await time_engine(os.path.join(workdir, f"zone-{mode}.db"), MESH,
                              [mesh] + ca_secrets + dataplanes(MESH, n), n, mode,
                              dp_key_type=dp_key_type, settings=BackendSettings(localca=LocalCASettings(threads)))
    return {"mode": mode, **timed}


async def builtin_case(args) -> None:
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
        # The ratio of the median rates; its spread is that of the rounds' own engine/raw ratios.
        m["ratio_to_raw"] = round(m["per_second"] / raw["per_second"], 3)
        m["ratio_min"] = min(run["ratio_to_raw"] for run in runs[threads])
        m["ratio_max"] = max(run["ratio_to_raw"] for run in runs[threads])
        summary.append(m)
    # The backend's own choice (common/ca/localca.py): threads for RSA keys or an RSA CA.
    default = summary[1] if "rsa" in (args.dp_key_type, args.ca_key_type) else summary[0]
    result = {
        "benchmark": "issuance", "when": now_iso(), "machine": machine(),
        "ca_key_type": args.ca_key_type, "dp_key_type": args.dp_key_type,
        "rounds": args.rounds, "raw": raw, "engine": summary,
        "all_rounds": {"raw": raws, "inline": runs[False], "threads": runs[True]},
        "ratio_default_mode": default["ratio_to_raw"],
        "ratio_default_mode_spread": [default["ratio_min"], default["ratio_max"]],
        "ratio_definition": "median engine rate / median raw rate over the rounds; spread: the rounds' own ratios",
        "target_ratio": 0.5,
        "meets_target": default["ratio_to_raw"] >= 0.5,
    }
    write_results(args.out, result)
    progress(f"ratio (default mode, {default['mode']}): {default['ratio_to_raw']:.0%} of the raw loop "
             f"(median rates; rounds {default['ratio_min']:.0%}-{default['ratio_max']:.0%}; target 50%); "
             f"wrote {os.path.relpath(args.out, os.getcwd())}")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="builtin", help="comma-separated: builtin, vault")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dataplanes", type=int, default=2000)
    ap.add_argument("--ca-key-type", choices=("ec", "rsa"), default="ec")
    ap.add_argument("--dp-key-type", choices=("ec", "rsa"), default="ec")
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("--vault-dataplanes", type=int, default=1000, help="vault case, EC role")
    ap.add_argument("--vault-rsa-dataplanes", type=int, default=80,
                    help="vault case, RSA role (Vault makes RSA keys at about 20/s)")
    ap.add_argument("--vault-out", default=VAULT_RESULTS)
    args = ap.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - {"builtin", "vault"})
    if unknown:
        ap.error(f"--cases: unknown {', '.join(unknown)}; use builtin and/or vault")
    if "builtin" in cases:
        await builtin_case(args)
    if "vault" in cases:
        await vault_case(args)


if __name__ == "__main__":
    asyncio.run(main())
