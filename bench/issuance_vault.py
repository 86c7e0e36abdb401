"""The vault case of bench/issuance.py: certificates per second through the
zone issuance engine against a direct concurrent hvac loop, both issuing from
the same OpenBao dev server in the same run, with an EC role and an RSA role.

- direct: `concurrency` threads (the engine's per-backend concurrency) share
  one hvac client with a pool as large, and POST `{pki}/issue/{role}` with the
  body the vault backend sends (URI SANs of one of 10 services, a 24h TTL, PEM,
  PKCS#8), until N certificates are issued;
- engine: N Dataplanes in a SQLite Store, a mesh whose vault backend points
  at the server (token in a mesh secret), the IssuanceEngine started, timed
  until every dataplane holds a certificate.

Vault makes the keys, so RSA runs at about 20/s: the RSA role gets a smaller N.
Each round runs both (direct first in odd rounds, the engine first in even
ones). The headline `ratio` is one figure: the median engine rate over the
rounds divided by the median direct rate (both printed beside it), with the
spread of the rounds' own engine/direct ratios (`ratio_min`, `ratio_max`).
The target is ratio >= 0.8 for both roles. Writes bench/results/issuance-vault.json.

    python bench/issuance_vault.py [--rounds 3] [--vault-dataplanes 1000] [--vault-rsa-dataplanes 80]
(the same as python bench/issuance.py --cases vault ...)
"""
from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hvac  # noqa: E402

from bench.benchutil import machine, median_run, now_iso, progress, write_results  # noqa: E402
from bench.issuance_engine import dataplanes, time_engine  # noqa: E402
from common.ca.private_files import PrivateFiles  # noqa: E402
from common.ca.vault.session import build_session  # noqa: E402
from common.resources import Resource, secret  # noqa: E402
from common.x509util import Identity  # noqa: E402
from mzsim.services.openbao import start_dev_server  # noqa: E402
from mzsim.setup.vault import SetupResult, setup_vault  # noqa: E402
from zone_cp.issuance import IssuanceConfig  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results", "issuance-vault.json")
TARGET = 0.8
SERVICES = 10
TTL_SECONDS = 86400
TOKEN_SECRET = "vault-token"
RATIO_DEFINITION = "median engine rate / median direct rate over the rounds; min/max: the rounds' own ratios"


def mesh_resources(setup: SetupResult) -> list[Resource]:
    doc = setup.mesh_doc(token_secret=TOKEN_SECRET, expiration=f"{TTL_SECONDS}s", common_name="")
    return [Resource("Mesh", setup.mesh, None, {"mtls": doc["mtls"]}),
            secret(TOKEN_SECRET, setup.token, setup.mesh)]


def issue_bodies(mesh: str) -> list[dict]:
    """What the vault backend sends for a dataplane of each service (no commonName)."""
    return [{"uri_sans": ",".join(Identity(mesh, "dp", {"kuma.io/service": [f"svc-{i}"],
                                                        "kuma.io/zone": ["bench"]}).uri_sans()),
             "ttl": f"{TTL_SECONDS}s", "format": "pem", "private_key_format": "pkcs8"}
            for i in range(SERVICES)]


def direct_loop(setup: SetupResult, count: int, threads: int) -> dict:
    files = PrivateFiles()
    session = build_session(files, pool_size=threads)
    client = hvac.Client(url=setup.address, token=setup.token, session=session, timeout=30)
    bodies = issue_bodies(setup.mesh)
    path = f"/v1/{setup.pki}/issue/{setup.role}"
    tickets = itertools.count()  # next() on a count is atomic under the GIL

    def work() -> int:
        done = 0
        while (i := next(tickets)) < count:
            data = client.adapter.post(path, json=bodies[i % SERVICES])["data"]
            if "BEGIN CERTIFICATE" not in data["certificate"]:
                raise SystemExit(f"direct: Vault answered without a certificate: {data}")
            done += 1
        return done

    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="direct") as pool:
            issued = sum(f.result() for f in [pool.submit(work) for _ in range(threads)])
    finally:
        session.close()
        files.remove_all()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"count": issued, "threads": threads, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
            "per_second": round(issued / wall, 1)}


async def role_case(workdir: str, setup: SetupResult, key_type: str, n: int, rounds: int) -> dict:
    threads = IssuanceConfig().concurrency
    directs, engines = [], []
    label = key_type.upper()
    for r in range(1, rounds + 1):
        # Odd rounds run direct first, even rounds the engine first, so neither always meets
        # the server warmer (or fuller) than the other.
        for side in (("direct", "engine") if r % 2 else ("engine", "direct")):
            if side == "direct":
                progress(f"round {r}/{rounds}: {label} role, direct hvac loop, {n} issues from {threads} threads")
                directs.append(direct_loop(setup, n, threads))
                progress(f"  direct: {directs[-1]['per_second']}/s")
            else:
                progress(f"round {r}/{rounds}: {label} role, engine, {n} dataplanes")
                engines.append(await time_engine(os.path.join(workdir, f"zone-{key_type}-{r}.db"), setup.mesh,
                                                 mesh_resources(setup) + dataplanes(setup.mesh, n), n,
                                                 f"vault {key_type}"))
                progress(f"  engine: {engines[-1]['per_second']}/s")
        engines[-1]["ratio_to_direct"] = round(engines[-1]["per_second"] / directs[-1]["per_second"], 3)
        progress(f"  round {r}: engine/direct {engines[-1]['ratio_to_direct']:.0%}")
    direct, engine = median_run(directs), median_run(engines)
    # One headline: the ratio of the median rates (the two rates printed beside it give it exactly);
    # the per-round ratios give its spread.
    ratio = round(engine["per_second"] / direct["per_second"], 3)
    per_round = [run["ratio_to_direct"] for run in engines]
    return {"key_type": key_type, "dataplanes": n, "pki": setup.pki, "role": setup.role,
            "direct": direct, "engine": engine, "ratio": ratio, "ratio_definition": RATIO_DEFINITION,
            "ratio_min": min(per_round), "ratio_max": max(per_round),
            "meets_target": ratio >= TARGET, "all_rounds": {"direct": directs, "engine": engines}}


async def vault_case(args) -> None:
    workdir = tempfile.mkdtemp(prefix="mzsim-bench-vault-")
    server = None
    try:
        progress("starting an OpenBao dev server")
        server = start_dev_server(workdir)
        roles = []
        for key_type, n in (("ec", args.vault_dataplanes), ("rsa", args.vault_rsa_dataplanes)):
            mesh = f"bench-{key_type}"
            setup = setup_vault(server.address, server.root_token, mesh, key_type=key_type,
                                pki=f"pki-{mesh}", max_ttl="48h")
            progress(f"PKI {setup.pki}, role {setup.role} ({key_type.upper()} keys) at {server.address}")
            roles.append(await role_case(workdir, setup, key_type, n, args.rounds))
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "benchmark": "issuance-vault", "when": now_iso(), "machine": machine(),
        "server": "OpenBao dev server (bao server -dev, in memory), loopback",
        "concurrency": IssuanceConfig().concurrency, "rounds": args.rounds, "roles": roles,
        "target_ratio": TARGET, "meets_target": all(r["meets_target"] for r in roles),
    }
    write_results(args.vault_out, result)
    for r in roles:
        progress(f"{r['key_type'].upper()} role: engine {r['engine']['per_second']}/s / direct "
                 f"{r['direct']['per_second']}/s (medians) = {r['ratio']:.0%} (rounds {r['ratio_min']:.0%}"
                 f"-{r['ratio_max']:.0%}; target {TARGET:.0%})")
    progress(f"wrote {os.path.relpath(args.vault_out, os.getcwd())}")


if __name__ == "__main__":
    import asyncio

    from bench.issuance import main

    sys.argv[1:1] = ["--cases", "vault"]
    asyncio.run(main())
