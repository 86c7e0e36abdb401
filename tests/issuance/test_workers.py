"""One worker pool with a scripted backend: failures open its breaker, held
proxies wait out the cooldown, one half-open probe goes through while the
others are parked, and the probe's success releases them."""
from __future__ import annotations

import asyncio
import random

from common.errors import BackendError
from common.x509util import Identity, IssuedCert
from mzsim.waiting import async_wait_until
from zone_cp.issuance import IssuanceConfig, ManualClock
from zone_cp.issuance.meshes import MeshView
from zone_cp.issuance.policy import CLOSED, HALF_OPEN, OPEN
from zone_cp.issuance.rotation import RotationStats
from zone_cp.issuance.scheduler import Scheduler
from zone_cp.issuance.state import BREAKER_OPEN, ProxyKey, ProxyState
from zone_cp.issuance.workers import Pacer, PoolDeps, WorkerPool

from .conftest import cert


class ScriptedBackend:
    def __init__(self) -> None:
        self.fail = True
        self.gate = asyncio.Event()
        self.gate.set()
        self.calls: list[str] = []

    async def issue(self, identity: Identity, lifetime: float) -> IssuedCert:
        self.calls.append(identity.dataplane)
        await self.gate.wait()
        if self.fail:
            raise BackendError("the CA is down")
        return cert(1_700_000_000, 1_700_000_100)

    async def close(self) -> None:
        pass


async def test_breaker_holds_parks_and_releases() -> None:
    clock = ManualClock(1000.0)
    tracked: dict[ProxyKey, ProxyState] = {("m1", n): ProxyState("m1", n, {}, "{}") for n in "abc"}
    a, b, c = tracked.values()
    scheduler = Scheduler(clock, tracked)
    counters = {"issued": 0, "rotated": 0, "failed": 0}
    changed: list[ProxyKey] = []
    config = IssuanceConfig(breaker_threshold=2, breaker_cooldown=30, backoff_base=5, backoff_jitter=0,
                            concurrency=2)
    deps = PoolDeps(config, clock, random.Random(1), None, Pacer(), counters, tracked.get, scheduler.schedule,
                    lambda p, issued, wanted, requested, now: now + 100, changed.append, RotationStats())
    backend = ScriptedBackend()
    view = MeshView("m1", "ca-1", "fake", {}, ("ca-1",), "fp", 100.0)
    pool = WorkerPool(view, backend, "", deps)  # type: ignore[arg-type]
    pool.start()
    try:
        pool.submit(a, clock.now())
        pool.submit(b, clock.now())
        await async_wait_until(lambda: counters["failed"] == 2, what="two failures")
        assert pool.breaker.state == OPEN and a.due == b.due == 1005 and a.status == "backoff"
        pool.submit(c, clock.now())  # held until the cooldown ends, without calling the backend
        assert (c.due, c.status, c.in_flight) == (1030, BREAKER_OPEN, False) and backend.calls == ["a", "b"]
        assert pool.stats(clock.now())["breaker"] == OPEN

        clock.advance(30)
        assert pool.stats(clock.now())["breaker"] == HALF_OPEN
        backend.fail = False
        backend.gate.clear()
        pool.submit(c, clock.now())  # the probe
        pool.submit(a, clock.now())  # parked until the probe's outcome
        await async_wait_until(lambda: backend.calls == ["a", "b", "c"], what="the probe")
        assert a.parked and a.due is None and pool.stats(clock.now())["parked"] == 1
        backend.gate.set()
        await async_wait_until(lambda: counters["issued"] == 1, what="the probe's success")
        assert pool.breaker.state == CLOSED and c.due == 1130 and c.failures == 0
        assert not a.parked and a.due == 1030 and pool.stats(clock.now())["parked"] == 0
        assert changed.count(("m1", "c")) == 2  # held, then issued
    finally:
        for w in pool.workers:
            w.cancel()
        await asyncio.gather(*pool.workers, return_exceptions=True)
