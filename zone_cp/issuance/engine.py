"""The zone issuance engine: keeps a valid identity certificate for every
Dataplane of every mesh with mTLS enabled.

- Store listener -> a deque of changes -> the reconciler task, which reads the
  store and (re)schedules proxies. The listener never blocks.
- One scheduler task with a heap of next-due times dispatches due proxies to
  their mesh's slot (queue + `concurrency` workers); thousands of dataplanes
  cost heap entries, not tasks.
- Renewal at `renew_fraction` (4/5) of the certificate's actual lifetime,
  from max(notBefore, request time) to notAfter: a backend may cap the TTL or
  backdate notBefore for clock skew.
- Reissue when the enabled backend entry, a secret it refers to, or the
  dataplane's tags change (fingerprints in MeshView / ProxyState).
- Failures: per-proxy jittered exponential backoff and a per-slot breaker
  (policy.py). Every completed attempt reschedules its proxy.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import heapq
import itertools
import json
import logging
import random
import time

from common.ca import registry
from common.ca.base import BackendContext
from common.errors import BackendError, MzsimError, error_text
from common.store import Change, Store
from common.x509util import Identity, IssuedCert

from .clock import Clock, SystemClock
from .config import IssuanceConfig
from .insights import DEFER, InsightWriter
from .meshes import MeshView, dataplane_tags, mesh_view
from .policy import CLOSED, HALF_OPEN, OPEN, backoff_delay
from .slot import BackendSlot
from .state import BACKOFF, BREAKER_OPEN, ERROR, OK, PENDING, ProxyKey, ProxyState, iso

log = logging.getLogger("mzsim.zone.issuance")

WATCHED_KINDS = frozenset({"Mesh", "Secret", "Dataplane"})
MIN_RENEW_DELAY = 0.5  # never renew sooner than this after an issue, whatever the certificate says
YIELD_EVERY = 0.005  # seconds of work a worker may do before letting the event loop run
PENDING_GRACE = 2.0  # a new proxy's insight says "pending" only if it waits longer than this


class IssuanceEngine:
    def __init__(self, store: Store, ctx: BackendContext, config: IssuanceConfig | None = None,
                 clock: Clock | None = None, *, rng: random.Random | None = None):
        self.store = store
        # Backends read secrets through a cache the store listener invalidates: issuing then costs
        # no SQLite reads. A change not yet invalidated is harmless: it also changes the mesh
        # fingerprint, so the reconciler rebuilds the backend and reissues.
        self._secrets: dict[tuple[str, str], object] = {}
        self._inner_lookup = ctx.secret_lookup or (lambda mesh, name: store.get("Secret", name, mesh))
        self.ctx = dataclasses.replace(ctx, secret_lookup=self._lookup_secret)
        self.config = config or IssuanceConfig()
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self._meshes: dict[str, MeshView] = {}
        self._slots: dict[str, BackendSlot] = {}  # by mesh: one enabled backend per mesh
        self._proxies: dict[ProxyKey, ProxyState] = {}
        self._by_mesh: dict[str, set[ProxyKey]] = collections.defaultdict(set)
        self._heap: list[tuple[float, int, ProxyKey]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._changes: collections.deque[Change] = collections.deque()
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []
        self._closing: set[asyncio.Task] = set()
        self._last_yield = 0.0
        self.counters = {"issued": 0, "rotated": 0, "failed": 0}
        self.insights = InsightWriter(store, self._insight_for, self.config.insight_flush_interval)
        m = ctx.metrics
        labels = ("backend_type", "mesh", "backend")
        self._m_seconds = m.histogram("mzsim_issuance_seconds", "Time to issue one data plane certificate",
                                      labels) if m else None
        self._m_total = m.counter("mzsim_issuance_total", "Data plane certificate issue attempts",
                                  labels + ("outcome",)) if m else None
        self._m_breaker = m.gauge("mzsim_breaker_open", "1 while a backend's issuance breaker is open or "
                                  "half-open", labels) if m else None

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.store.add_listener(self._on_change)
        for mesh in self.store.list("Mesh"):
            self._refresh_mesh(mesh.name)
        self._tasks = [asyncio.create_task(self._scheduler(), name="issuance-scheduler"),
                       asyncio.create_task(self._reconciler(), name="issuance-reconciler"),
                       asyncio.create_task(self.insights.run(), name="issuance-insights")]

    async def stop(self) -> None:
        self.store.remove_listener(self._on_change)
        slots = list(self._slots.values())
        tasks = self._tasks + [w for s in slots for w in s.workers]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        try:
            self.insights.flush()
        except Exception:  # noqa: BLE001 - the store may already be closed
            log.exception("cannot write the last DataplaneInsights")
        for s in slots:
            self._retire(s, cancel_workers=False)
        self._slots.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # -- queries -----------------------------------------------------------------
    def identity(self, mesh: str, dataplane: str) -> IssuedCert | None:
        """The dataplane's current certificate, if it has one that has not expired."""
        p = self._proxies.get((mesh, dataplane))
        if p is None or p.cert is None or (p.not_after or 0) <= self.clock.now():
            return None
        return p.cert

    def proxy(self, mesh: str, dataplane: str) -> ProxyState | None:
        return self._proxies.get((mesh, dataplane))

    def stats(self) -> dict:
        now = self.clock.now()
        backends = []
        for s in self._slots.values():
            b = s.breaker
            state = HALF_OPEN if b.state == OPEN and now >= b.open_until else b.state
            backends.append({
                "mesh": s.mesh, "backend": s.name, "type": s.type_name, "breaker": state,
                "openUntil": iso(b.open_until) if state == OPEN else None, "timesOpened": b.times_opened,
                "failingProxies": b.failing, "queued": s.queue.qsize(), "parked": len(s.parked),
                "lastError": s.last_error,
            })
        certified = sum(1 for p in self._proxies.values() if p.cert is not None and (p.not_after or 0) > now)
        return {**self.counters, "proxies": len(self._proxies), "certified": certified,
                "backends": sorted(backends, key=lambda x: (x["mesh"], x["backend"]))}

    # -- store changes -----------------------------------------------------------
    def _lookup_secret(self, mesh: str, name: str):
        key = (mesh, name)
        try:
            return self._secrets[key]
        except KeyError:
            found = self._secrets[key] = self._inner_lookup(mesh, name)
            return found

    def _on_change(self, changes: list[Change]) -> None:
        for c in changes:
            if c.kind == "Secret":
                self._secrets.pop((c.mesh or "", c.name), None)
        relevant = [c for c in changes if c.kind in WATCHED_KINDS]
        if not relevant or self._loop is None:
            return
        self._changes.extend(relevant)
        try:
            self._loop.call_soon_threadsafe(self._changed.set)
        except RuntimeError:  # the loop is closed: the engine is gone
            pass

    async def _reconciler(self) -> None:
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
        view = mesh_view(self._lookup_secret, self.store.get("Mesh", mesh))
        old = self._meshes.get(mesh)
        if view is None:
            if old is not None:
                self._drop_mesh(mesh)
            return old is not None
        if old is not None and old.fingerprint == view.fingerprint:
            if old.supported != view.supported:
                self._meshes[mesh] = view
                for key in self._by_mesh.get(mesh, ()):
                    self.insights.mark(key)
            return False
        self._meshes[mesh] = view
        self._replace_slot(view)
        present = set()
        for dp in self.store.list("Dataplane", mesh):
            present.add((mesh, dp.name))
            self._upsert_proxy(view, dp.name, dataplane_tags(dp))
        for key in self._by_mesh.get(mesh, set()) - present:
            self._drop_proxy(key)
        return True

    def _refresh_dataplane(self, key: ProxyKey) -> None:
        mesh, name = key
        dp = self.store.get("Dataplane", name, mesh)
        if dp is None:
            self._drop_proxy(key)
            self.insights.remove(key)
            return
        view = self._meshes.get(mesh)
        if view is not None:
            self._upsert_proxy(view, name, dataplane_tags(dp))

    def _upsert_proxy(self, view: MeshView, name: str, tags: dict[str, list[str]]) -> None:
        key = (view.name, name)
        tags_fp = json.dumps(tags, sort_keys=True)
        p = self._proxies.get(key)
        if p is None:
            p = ProxyState(view.name, name, tags, tags_fp, created=self.clock.now())
            self._proxies[key] = p
            self._by_mesh[view.name].add(key)
        elif p.tags_fp != tags_fp:
            p.tags, p.tags_fp = tags, tags_fp
        if p.issued_for != self._wanted(p, view) and not p.in_flight:
            p.failures, p.parked = 0, False  # a new config deserves a fresh start
            self._schedule(p, self.clock.now())
            self.insights.mark(key)

    def _drop_proxy(self, key: ProxyKey) -> None:
        p = self._proxies.pop(key, None)
        if p is None:
            return
        self._by_mesh[key[0]].discard(key)
        slot = self._slots.get(key[0])
        if slot is not None:
            slot.parked.discard(key)
            self._release_probe(slot, key)
        self.insights.remove(key)

    def _drop_mesh(self, mesh: str) -> None:
        self._meshes.pop(mesh, None)
        slot = self._slots.pop(mesh, None)
        if slot is not None:
            self._retire(slot)
            if self._m_breaker:
                self._m_breaker.set(0, **slot.labels)
        for key in list(self._by_mesh.pop(mesh, ())):
            self._drop_proxy(key)

    @staticmethod
    def _wanted(p: ProxyState, view: MeshView) -> str:
        return view.fingerprint + "|" + p.tags_fp

    # -- backend slots -------------------------------------------------------------
    def _replace_slot(self, view: MeshView) -> None:
        old = self._slots.pop(view.name, None)
        if old is not None:
            self._retire(old)
            if self._m_breaker:
                self._m_breaker.set(0, **old.labels)
        backend, build_error = None, ""
        try:
            backend = registry.build(view.name, view.spec, self.ctx)
        except registry.UnknownBackendType:
            build_error = (f"unknown backend type {view.backend_type!r} for backend {view.backend_name!r}; "
                           f"use one of {', '.join(registry.KNOWN_TYPES)}")
        except Exception as e:  # noqa: BLE001 - reported on every proxy of the mesh
            build_error = f"cannot set up backend {view.backend_name!r}: {error_text(e)}"
        slot = BackendSlot(view, backend, build_error, self.config)
        slot.workers = [asyncio.create_task(self._worker(slot), name=f"issuance-{view.name}-{i}")
                        for i in range(max(1, self.config.concurrency))]
        self._slots[view.name] = slot
        log.info("mesh %s: issuing from backend %r (%s)", view.name, view.backend_name, view.backend_type)

    def _retire(self, slot: BackendSlot, *, cancel_workers: bool = True) -> None:
        if cancel_workers:
            for w in slot.workers:
                w.cancel()
        while not slot.queue.empty():  # queued, never attempted: free to be scheduled on the new slot
            slot.queue.get_nowait().in_flight = False
        if slot.backend is not None:
            task = asyncio.create_task(self._close_backend(slot))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_backend(slot: BackendSlot) -> None:
        try:
            await slot.backend.close()
        except Exception:  # noqa: BLE001 - an old backend failing to close must not stop the new one
            log.exception("mesh %s: closing backend %r failed", slot.mesh, slot.name)

    # -- scheduling ----------------------------------------------------------------
    def _schedule(self, p: ProxyState, at: float) -> None:
        p.due = at
        heapq.heappush(self._heap, (at, next(self._seq), p.key))
        if self._heap[0][2] == p.key:
            self._wake.set()

    async def _scheduler(self) -> None:
        while True:
            now = self.clock.now()
            while self._heap and self._heap[0][0] <= now:
                at, _, key = heapq.heappop(self._heap)
                p = self._proxies.get(key)
                # Stale entries (rescheduled, dropped, or in flight: completion reschedules) are skipped.
                if p is not None and p.due == at and not p.in_flight:
                    try:
                        self._dispatch(p, now)
                    except Exception:  # noqa: BLE001 - one proxy must not stop the scheduler
                        log.exception("mesh %s dataplane %s: cannot dispatch", p.mesh, p.name)
            if len(self._heap) > 4 * len(self._proxies) + 1024:
                self._compact_heap()
            self._wake.clear()
            await self.clock.wait(self._wake, self._heap[0][0] - now if self._heap else None)

    def _compact_heap(self) -> None:
        self._heap = [(p.due, next(self._seq), k) for k, p in self._proxies.items()
                      if p.due is not None and not p.in_flight]
        heapq.heapify(self._heap)

    def _dispatch(self, p: ProxyState, now: float) -> None:
        slot = self._slots.get(p.mesh)
        if slot is None:
            return
        if not slot.breaker.allow(p.key, now):
            self._hold(slot, p)
            return
        p.due, p.in_flight = None, True
        slot.queue.put_nowait(p)

    def _hold(self, slot: BackendSlot, p: ProxyState) -> None:
        """The breaker blocks `p`: retry when it may half-open, or when the probe ends."""
        if slot.breaker.state == OPEN:
            self._schedule(p, slot.breaker.open_until)
        else:  # half-open, probe in flight: wait for its outcome
            p.due, p.parked = None, True
            slot.parked.add(p.key)
        p.status = BREAKER_OPEN
        self.insights.mark(p.key)

    def _release_parked(self, slot: BackendSlot, at: float) -> None:
        for key in slot.parked:
            p = self._proxies.get(key)
            if p is not None and p.parked:
                p.parked = False
                self._schedule(p, at)
        slot.parked.clear()

    def _release_probe(self, slot: BackendSlot, key: ProxyKey) -> None:
        if slot.breaker.probe == key:
            slot.breaker.release(key)
            self._release_parked(slot, self.clock.now())

    # -- issuing -------------------------------------------------------------------
    async def _worker(self, slot: BackendSlot) -> None:
        while True:
            p = await slot.queue.get()
            try:
                if self._proxies.get(p.key) is not p:  # dropped while queued
                    self._release_probe(slot, p.key)
                    continue
                if slot.breaker.state != CLOSED and slot.breaker.probe != p.key:
                    self._hold(slot, p)  # the breaker opened while it was queued
                    continue
                await self._attempt(slot, p)
            except Exception:  # noqa: BLE001 - a bug here must not cost the slot a worker
                log.exception("mesh %s dataplane %s: issuance bookkeeping failed", p.mesh, p.name)
                self._release_probe(slot, p.key)
                if self._proxies.get(p.key) is p:
                    self._schedule(p, self.clock.now() + self.config.backoff_cap)
            finally:
                p.in_flight = False
            # queue.get() does not yield while items wait, and a local CA signs without awaiting:
            # give other meshes and the scheduler a turn every few milliseconds.
            if time.perf_counter() - self._last_yield > YIELD_EVERY:
                await asyncio.sleep(0)
                self._last_yield = time.perf_counter()

    async def _attempt(self, slot: BackendSlot, p: ProxyState) -> None:
        view = self._meshes[p.mesh]
        wanted = self._wanted(p, view)
        requested = self.clock.now()
        started = time.perf_counter()
        error: Exception | None = None
        try:
            if slot.backend is None:
                raise BackendError(slot.build_error, retryable=False)
            async with asyncio.timeout(self.config.issue_timeout):
                cert = await slot.backend.issue(Identity(p.mesh, p.name, p.tags), view.lifetime)
            cert.leaf  # a backend answering with something that is not a certificate has failed
        except asyncio.CancelledError:
            self._release_probe(slot, p.key)
            if self._proxies.get(p.key) is p:
                p.in_flight = False
                self._schedule(p, self.clock.now())
            raise
        except TimeoutError:
            error = BackendError(f"backend {slot.name!r} did not answer within {self.config.issue_timeout:g}s")
        except Exception as e:  # noqa: BLE001 - any failure is this proxy's failure
            error = e
        elapsed = time.perf_counter() - started
        now = self.clock.now()
        if self._proxies.get(p.key) is not p or self._slots.get(p.mesh) is not slot:
            # Dropped, or the mesh moved to a new backend meanwhile: this outcome is moot.
            self._release_probe(slot, p.key)
            if self._proxies.get(p.key) is p:
                self._schedule(p, now)
            return
        if self._m_seconds:
            self._m_seconds.observe(elapsed, **slot.labels)
            self._m_total.inc(outcome="ok" if error is None else "error", **slot.labels)
        if error is None:
            self._succeeded(slot, p, cert, wanted, requested, now)
        else:
            self._failed(slot, p, error, now)
        self.insights.mark(p.key)

    def _succeeded(self, slot: BackendSlot, p: ProxyState, cert: IssuedCert, wanted: str,
                   requested: float, now: float) -> None:
        if not cert.backend:
            cert.backend = slot.name
        leaf = cert.leaf
        not_before, not_after = leaf.not_valid_before_utc.timestamp(), leaf.not_valid_after_utc.timestamp()
        start = max(not_before, requested)
        self.counters["rotated" if p.cert is not None else "issued"] += 1
        p.cert, p.serial = cert, format(leaf.serial_number, "x")
        p.not_before, p.not_after = not_before, not_after
        p.renew_at = start + self.config.renew_fraction * (not_after - start)
        p.issued_for = wanted
        p.regenerations += 1
        p.last_regeneration = now
        p.failures, p.status = 0, OK
        if slot.breaker.record_success(p.key):
            log.info("mesh %s: backend %r works again; breaker closed", slot.mesh, slot.name)
            self._release_parked(slot, now)
            if self._m_breaker:
                self._m_breaker.set(0, **slot.labels)
        slot.last_error = ""
        current = self._wanted(p, self._meshes[p.mesh])
        self._schedule(p, max(p.renew_at, now + MIN_RENEW_DELAY) if current == wanted else now)

    def _failed(self, slot: BackendSlot, p: ProxyState, error: Exception, now: float) -> None:
        text = error_text(error)
        retryable = getattr(error, "retryable", True)
        if not isinstance(error, MzsimError):
            log.warning("mesh %s dataplane %s: unexpected issuance error", p.mesh, p.name, exc_info=error)
        if text != slot.last_error:
            log.warning("mesh %s: backend %r failed for dataplane %s%s: %s", slot.mesh, slot.name, p.name,
                        "" if retryable else " (needs a configuration change)", text)
            slot.last_error = text
        self.counters["failed"] += 1
        p.failures += 1
        p.last_error, p.last_error_time = text, now
        p.status = BACKOFF if retryable else ERROR
        if slot.breaker.record_failure(p.key, now):
            log.warning("mesh %s: breaker of backend %r open until %s (%d distinct proxies failed)", slot.mesh,
                        slot.name, iso(slot.breaker.open_until), self.config.breaker_threshold)
            self._release_parked(slot, slot.breaker.open_until)
            if self._m_breaker:
                self._m_breaker.set(1, **slot.labels)
        c = self.config
        self._schedule(p, now + backoff_delay(p.failures, c.backoff_base, c.backoff_cap, c.backoff_jitter, self.rng))

    # -- insights ------------------------------------------------------------------
    def _insight_for(self, key: ProxyKey):
        p = self._proxies.get(key)
        view = self._meshes.get(key[0])
        if p is None or view is None:
            return None
        if p.status == PENDING and self.clock.now() - p.created < PENDING_GRACE:
            return DEFER  # its first certificate is likely moments away: write that instead
        return p.insight_spec(view.supported)
