"""The zone issuance engine: keeps a valid identity certificate for every
Dataplane of every mesh with mTLS enabled. A coordinator of four parts:

- store listener -> a deque of changes -> the reconcile task, which reads the
  store and asks the Reconciler (reconciler.py, pure) what should exist;
- the Scheduler (scheduler.py): a heap of due times, one task;
- a WorkerPool per mesh backend (workers.py): queue, workers, breaker, backoff;
- the InsightWriter (insights.py): coalesced DataplaneInsight writes.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import random
from typing import Any

from common.ca.base import BackendContext
from common.datasource import SecretLookup
from common.resources import Resource
from common.store import Change, Store
from common.x509util import IssuedCert

from .clock import Clock, SystemClock
from .config import IssuanceConfig
from .insights import InsightWriter, Ticker
from .meshes import MeshView, dataplane_tags, mesh_view
from .reconciler import Plan, Reconciler
from .rotation import RotationStats
from .scheduler import Scheduler
from .state import ProxyKey, ProxyState
from .workers import IssuanceMetrics, Pacer, PoolDeps, WorkerPool, build_backend

log = logging.getLogger("mzsim.zone.issuance")

WATCHED_KINDS = frozenset({"Mesh", "Secret", "Dataplane"})


class SecretCache:
    """Backends read secrets through this cache, which the store listener invalidates: issuing then
    costs no SQLite reads. A change not yet invalidated is harmless: it also changes the mesh
    fingerprint, so the reconciler rebuilds the backend and reissues."""

    def __init__(self, lookup: SecretLookup):
        self._lookup = lookup
        self._cache: dict[tuple[str, str], Resource | None] = {}

    def __call__(self, mesh: str, name: str) -> Resource | None:
        key = (mesh, name)
        try:
            return self._cache[key]
        except KeyError:
            found = self._cache[key] = self._lookup(mesh, name)
            return found

    def invalidate(self, mesh: str, name: str) -> None:
        self._cache.pop((mesh, name), None)


class IssuanceEngine:
    def __init__(self, store: Store, ctx: BackendContext, config: IssuanceConfig | None = None,
                 clock: Clock | None = None, *, rng: random.Random | None = None,
                 insight_ticker: Ticker | None = None):
        """`insight_ticker`: flush DataplaneInsights from this shared ticker (many zones in one
        process) instead of a task of the engine's own."""
        self.store = store
        self._secrets = SecretCache(ctx.secret_lookup or (lambda mesh, name: store.get("Secret", name, mesh)))
        self.ctx = dataclasses.replace(ctx, secret_lookup=self._secrets)
        self.config = config or IssuanceConfig()
        self.config.check()
        self.clock = clock or SystemClock()
        self.counters = {"issued": 0, "rotated": 0, "failed": 0}
        rng = rng or random.Random()
        self.rotations = RotationStats()
        self.reconciler = Reconciler(self.config.renew_fraction, self.config.renew_jitter, rng)
        self.scheduler = Scheduler(self.clock, self.reconciler.proxies)
        self.insights = InsightWriter(store, lambda key: self.reconciler.insight(key, self.clock.now()),
                                      self.config.insight_flush_interval)
        self._deps = PoolDeps(self.config, self.clock, rng,
                              IssuanceMetrics(ctx.metrics) if ctx.metrics else None, Pacer(), self.counters,
                              self.reconciler.proxies.get, self.scheduler.schedule, self.reconciler.certified,
                              self.insights.mark, self.rotations)
        self._pools: dict[str, WorkerPool] = {}  # by mesh: one enabled backend per mesh
        self._insight_ticker, self._insight_handle = insight_ticker, 0
        self._changes: collections.deque[Change] = collections.deque()
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.store.add_listener(self._on_change)
        for mesh in self.store.list("Mesh"):
            self._refresh_mesh(mesh.name)
        self._tasks = [asyncio.create_task(self.scheduler.run(self._dispatch), name="issuance-scheduler"),
                       asyncio.create_task(self._reconcile(), name="issuance-reconciler")]
        if self._insight_ticker is not None:
            self._insight_handle = self._insight_ticker.add(self.insights.tick)
        else:
            self._tasks.append(asyncio.create_task(self.insights.run(), name="issuance-insights"))

    async def stop(self) -> None:
        self.store.remove_listener(self._on_change)
        if self._insight_ticker is not None:
            self._insight_ticker.remove(self._insight_handle)
        pools = list(self._pools.values())
        tasks = self._tasks + [w for pool in pools for w in pool.workers]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        try:
            self.insights.flush()
        except Exception:  # noqa: BLE001 - the store may already be closed
            log.exception("cannot write the last DataplaneInsights")
        for pool in pools:
            self._track_closing(pool.release())
        self._pools.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # -- queries -----------------------------------------------------------------
    def identity(self, mesh: str, dataplane: str) -> IssuedCert | None:
        """The dataplane's current certificate, if it has one that has not expired."""
        return self.reconciler.identity((mesh, dataplane), self.clock.now())

    def proxy(self, mesh: str, dataplane: str) -> ProxyState | None:
        return self.reconciler.proxies.get((mesh, dataplane))

    def stats(self) -> dict[str, Any]:
        now = self.clock.now()
        backends = sorted((pool.stats(now) for pool in self._pools.values()),
                          key=lambda x: (x["mesh"], x["backend"]))
        return {**self.counters, "proxies": len(self.reconciler.proxies),
                "certified": self.reconciler.certified_count(now), "backends": backends,
                "rotation": self.rotations.as_dict()}

    # -- store changes -----------------------------------------------------------
    def _on_change(self, changes: list[Change]) -> None:
        for c in changes:
            if c.kind == "Secret":
                self._secrets.invalidate(c.mesh or "", c.name)
        relevant = [c for c in changes if c.kind in WATCHED_KINDS]
        if not relevant or self._loop is None:
            return
        self._changes.extend(relevant)
        try:
            self._loop.call_soon_threadsafe(self._changed.set)
        except RuntimeError:  # the loop is closed: the engine is gone
            pass

    async def _reconcile(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            meshes: set[str] = set()
            dataplanes: set[ProxyKey] = set()
            while self._changes:
                c = self._changes.popleft()
                if c.kind == "Mesh":
                    meshes.add(c.name)
                elif c.kind == "Secret" and c.mesh:
                    meshes.add(c.mesh)
                elif c.mesh:
                    dataplanes.add((c.mesh, c.name))
            try:
                relisted = {m for m in sorted(meshes) if self._refresh_mesh(m)}
                for key in dataplanes:
                    if key[0] not in relisted:
                        self._refresh_dataplane(key)
            except Exception:  # noqa: BLE001 - keep reconciling; the next change retries
                log.exception("issuance: cannot apply store changes")

    def _refresh_mesh(self, mesh: str) -> bool:
        """Bring one mesh up to date; True if its dataplanes were all looked at."""
        view = mesh_view(self._secrets, self.store.get("Mesh", mesh))
        dataplanes = None
        if self.reconciler.needs_dataplanes(mesh, view):
            dataplanes = [(dp.name, dataplane_tags(dp)) for dp in self.store.list("Dataplane", mesh)]
        plan = self.reconciler.mesh(mesh, view, dataplanes, self.clock.now())
        self._carry_out(plan)
        return plan.relisted

    def _refresh_dataplane(self, key: ProxyKey) -> None:
        dp = self.store.get("Dataplane", key[1], key[0])
        self._carry_out(self.reconciler.dataplane(key, None if dp is None else dataplane_tags(dp),
                                                  self.clock.now()))

    def _carry_out(self, plan: Plan) -> None:
        """In the order Plan documents."""
        if plan.retire_pool is not None:
            self._retire(plan.retire_pool)
        if plan.replace_pool is not None:
            self._replace_pool(plan.replace_pool)
        for key in plan.dropped:
            pool = self._pools.get(key[0])
            if pool is not None:
                pool.forget(key)
            self.insights.remove(key)
        now = self.clock.now()
        for key in plan.reissue:
            p = self.reconciler.proxies[key]
            if p.in_flight:  # its completion reschedules it
                continue
            p.failures, p.parked = 0, False  # a new config deserves a fresh start
            self.scheduler.schedule(p, now)
            self.insights.mark(key)
        for key in plan.marked:
            self.insights.mark(key)

    # -- backend pools -------------------------------------------------------------
    def _replace_pool(self, view: MeshView) -> None:
        self._retire(view.name)
        backend, build_error = build_backend(view, self.ctx)
        pool = WorkerPool(view, backend, build_error, self._deps)
        pool.start()
        self._pools[view.name] = pool
        log.info("mesh %s: issuing from backend %r (%s)", view.name, view.backend_name, view.backend_type)

    def _retire(self, mesh: str) -> None:
        pool = self._pools.pop(mesh, None)
        if pool is not None:
            self._track_closing(pool.retire())

    def _track_closing(self, task: asyncio.Task[None] | None) -> None:
        if task is not None:
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _dispatch(self, p: ProxyState, now: float) -> None:
        pool = self._pools.get(p.mesh)
        if pool is not None:
            pool.submit(p, now)
