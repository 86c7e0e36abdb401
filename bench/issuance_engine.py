"""What the issuance benchmark's cases share: the dataplanes, and timing the
zone issuance engine until every dataplane holds a certificate."""
from __future__ import annotations

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.benchutil import progress  # noqa: E402
from common.ca.base import BackendContext  # noqa: E402
from common.metrics import Registry  # noqa: E402
from common.resources import Resource  # noqa: E402
from common.store import Store  # noqa: E402
from zone_cp.issuance import IssuanceConfig, IssuanceEngine  # noqa: E402


def dataplanes(mesh: str, n: int, services: int = 10) -> list[Resource]:
    return [Resource("Dataplane", f"dp-{i}", mesh, {"networking": {"address": "10.0.0.1", "inbound": [
        {"port": 8080, "tags": {"kuma.io/service": f"svc-{i % services}", "kuma.io/zone": "bench"}}]}})
        for i in range(n)]


async def time_engine(path: str, mesh: str, resources: list[Resource], n: int, label: str,
                      timeout: float = 600.0, **ctx_fields) -> dict:
    """A Store at `path` holding `resources` (the mesh, its secrets, n dataplanes),
    the engine started, timed until every dataplane holds a certificate and,
    separately, until every DataplaneInsight says "ok"; at most `timeout` seconds.
    `ctx_fields` go to BackendContext (settings, dp_key_type)."""
    store = Store(path)
    store.apply(resources, [])
    ctx = BackendContext(secret_lookup=lambda m, name: store.get("Secret", name, m), metrics=Registry(),
                         **ctx_fields)
    engine = IssuanceEngine(store, ctx, IssuanceConfig())
    cpu0, t0 = time.process_time(), time.perf_counter()
    await engine.start()
    last = t0

    def check() -> None:
        if engine.counters["failed"]:
            raise SystemExit(f"issuance failed: {engine.stats()['backends']}")
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"engine ({label}): not done after {timeout:g}s: {engine.stats()}")

    while engine.counters["issued"] < n:
        check()
        await asyncio.sleep(0.02)
        if time.perf_counter() - last >= 1:
            last = time.perf_counter()
            progress(f"  engine ({label}): {engine.counters['issued']}/{n} issued")
    issued_at, cpu_issued = time.perf_counter() - t0, time.process_time() - cpu0

    def insights_ok() -> bool:
        return sum(1 for r in store.list("DataplaneInsight", mesh) if r.spec["mTLS"]["status"] == "ok") == n

    while not insights_ok():
        check()
        await asyncio.sleep(0.05)
    insights_at = time.perf_counter() - t0
    writes = engine.insights.writes
    await engine.stop()
    store.close()
    return {"dataplanes": n, "seconds_to_all_issued": round(issued_at, 3), "cpu_seconds": round(cpu_issued, 3),
            "per_second": round(n / issued_at, 1), "seconds_to_all_insights_ok": round(insights_at, 3),
            "insight_writes": writes}


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__ + "\nA module of bench/issuance.py: run that "
                            "(python bench/issuance.py --help).").parse_args()
    sys.exit("bench/issuance_engine.py has no case of its own: run python bench/issuance.py")
