"""certmanager issuance through `mzsim kube-api` and `mzsim certmanager-controller`
(each a real process on loopback), driven by the backend in this process:
certificates per second and latency, one at a time and `--concurrency` at a
time; and whether the API server slows as it ages (kmock 0.8 went from 24 ms to
129 ms per GET after 1,200 requests, measured for docs/certmanager.md).

    python bench/certmanager_rate.py [--seconds 5] [--concurrency 8] [--age 3000]

Writes bench/results/certmanager_rate.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lightkube.resources.core_v1 import Secret  # noqa: E402

from bench.benchutil import write_results  # noqa: E402
from common.ca.base import BackendContext  # noqa: E402
from common.ca.certmanager.backend import CertManagerBackend  # noqa: E402
from common.ca.certmanager.kube import make_client  # noqa: E402
from common.x509util import Identity  # noqa: E402
from mzsim.launcher import Proc  # noqa: E402
from mzsim.setup.certmanager import setup_certmanager  # noqa: E402
from mzsim.waiting import free_port, wait_port, wait_until  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results", "certmanager_rate.json")


def pct(values: list[float], q: float) -> float:
    return round(sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000, 1)


async def issue_for(backend: CertManagerBackend, seconds: float, concurrency: int) -> dict:
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def worker(i: int) -> None:
        n = 0
        while time.monotonic() < stop:
            started = time.monotonic()
            await backend.issue(Identity("bench", f"dp-{i}-{n}", {"kuma.io/service": [f"svc-{i}"]}), 3600)
            latencies.append(time.monotonic() - started)
            n += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.monotonic() - started
    return {"concurrency": concurrency, "issued": len(latencies), "per_second": round(len(latencies) / elapsed, 1),
            "p50_ms": pct(latencies, 0.5), "p95_ms": pct(latencies, 0.95)}


async def get_latency(kubeconfig: str, count: int) -> float:
    client = make_client(kubeconfig)
    try:
        times = []
        for _ in range(count):
            started = time.monotonic()
            await client.get(Secret, "my-ca-issuer-ca", namespace="kong-mesh-system")
            times.append(time.monotonic() - started)
        return round(statistics.median(times) * 1000, 2)
    finally:
        await client.close()


async def measure(kubeconfig: str, seconds: float, concurrency: int, age: int) -> dict:
    await setup_certmanager(kubeconfig)
    fresh = await get_latency(kubeconfig, 200)
    ctx = BackendContext(environment="kubernetes", kubeconfig=kubeconfig)
    backend = CertManagerBackend("bench", {"name": "cm", "type": "certmanager",
                                           "conf": {"issuerRef": {"name": "my-ca-issuer"}}}, ctx)
    try:
        serial = await issue_for(backend, seconds, 1)
        parallel = await issue_for(backend, seconds, concurrency)
    finally:
        await backend.close()
    await get_latency(kubeconfig, age)
    aged = await get_latency(kubeconfig, 200)
    return {"one_at_a_time": serial, "concurrent": parallel,
            "api_get_median_ms": {"fresh": fresh, f"after_{age}_more_requests_and_the_issuances": aged}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--age", type=int, default=3000, help="GET requests made before measuring again")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        kubeconfig = os.path.join(tmp, "kubeconfig.yaml")
        procs = [Proc(["kube-api", "--port", str(port), "--kubeconfig-out", kubeconfig],
                      os.path.join(tmp, "kube-api.log"), cwd=ROOT).start()]
        try:
            wait_port(port)
            wait_until(lambda: os.path.exists(kubeconfig), 10, what="kubeconfig")
            controller = Proc(["certmanager-controller", "--kubeconfig", kubeconfig],
                              os.path.join(tmp, "controller.log"), cwd=ROOT).start()
            procs.append(controller)
            wait_until(lambda: "ready" in controller.log(), 15, what="controller")
            result = asyncio.run(measure(kubeconfig, a.seconds, a.concurrency, a.age))
        finally:
            for p in reversed(procs):
                p.stop()
    result = {"bench": "certmanager_rate", "python": platform.python_version(), "cpus": os.cpu_count(),
              "dp_key": "ec", "ca_key": "ec", **result}
    write_results(RESULTS, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
