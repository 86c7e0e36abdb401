"""One (mesh, enabled backend): its backend object, its queue and
`concurrency` worker tasks, its circuit breaker and the per-proxy backoff.

Each mesh has its own pool, so a slow or failing backend only ever holds up
its own mesh (Kuma issue #4509). A pool is retired when its mesh moves to a
new backend, switches mTLS off or is deleted: its workers are cancelled, its
queued proxies are freed for the new pool, and its backend is closed.

While the breaker is open, proxies are held until the cooldown ends; while
its half-open probe is in flight, they are parked until its outcome."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.backoff import backoff_delay
from common.ca import registry
from common.ca.base import BackendContext, CABackend
from common.errors import BackendError, MzsimError, error_text
from common.metrics import Registry
from common.x509util import Identity, IssuedCert

from .clock import Clock
from .config import IssuanceConfig
from .meshes import MeshView
from .policy import CLOSED, HALF_OPEN, OPEN, Breaker
from .rotation import RotationStats
from .state import BACKOFF, BREAKER_OPEN, ERROR, ProxyKey, ProxyState, iso

log = logging.getLogger("mzsim.zone.issuance")

YIELD_EVERY = 0.005  # seconds of work a worker may do before letting the event loop run

Certified = Callable[[ProxyState, IssuedCert, str, float, float], float]


class Pacer:
    """queue.get() does not yield while items wait, and a local CA signs without awaiting: workers
    of every pool give other meshes and the scheduler a turn every few milliseconds."""

    def __init__(self) -> None:
        self._last = 0.0

    async def pace(self) -> None:
        if time.perf_counter() - self._last > YIELD_EVERY:
            await asyncio.sleep(0)
            self._last = time.perf_counter()


class IssuanceMetrics:
    LABELS = ("backend_type", "mesh", "backend")

    def __init__(self, m: Registry):
        self.seconds = m.histogram("mzsim_issuance_seconds", "Time to issue one data plane certificate",
                                   self.LABELS)
        self.total = m.counter("mzsim_issuance_total", "Data plane certificate issue attempts",
                               self.LABELS + ("outcome",))
        self.breaker = m.gauge("mzsim_breaker_open", "1 while a backend's issuance breaker is open or "
                               "half-open", self.LABELS)


@dataclass(frozen=True)
class PoolDeps:
    """What every pool of one engine shares: the knobs, and the engine's hooks."""
    config: IssuanceConfig
    clock: Clock
    rng: random.Random
    metrics: IssuanceMetrics | None
    pacer: Pacer
    counters: dict[str, int]  # "issued", "rotated", "failed"
    tracked: Callable[[ProxyKey], ProxyState | None]  # the engine's proxy for a key, if any
    schedule: Callable[[ProxyState, float], None]
    certified: Certified  # records a certificate (Reconciler.certified); returns when it is due next
    changed: Callable[[ProxyKey], None]  # its DataplaneInsight needs writing
    rotations: RotationStats  # how late scheduled renewals complete


def build_backend(view: MeshView, ctx: BackendContext) -> tuple[CABackend | None, str]:
    """The mesh's backend object, or why there is none (then every attempt fails with it)."""
    try:
        return registry.build(view.name, view.spec, ctx), ""
    except registry.UnknownBackendType:
        return None, (f"unknown backend type {view.backend_type!r} for backend {view.backend_name!r}; "
                      f"use one of {', '.join(registry.KNOWN_TYPES)}")
    except Exception as e:  # noqa: BLE001 - reported on every proxy of the mesh
        return None, f"cannot set up backend {view.backend_name!r}: {error_text(e)}"


class WorkerPool:
    def __init__(self, view: MeshView, backend: CABackend | None, build_error: str, deps: PoolDeps):
        self.mesh, self.name, self.type_name = view.name, view.backend_name, view.backend_type
        self.view = view
        self.backend = backend
        self.build_error = build_error
        self.deps = deps
        c = deps.config
        self.breaker = Breaker(c.breaker_threshold, c.breaker_window, c.breaker_cooldown)
        self.queue: asyncio.Queue[ProxyState] = asyncio.Queue()
        self.parked: set[ProxyKey] = set()  # waiting for the half-open probe's outcome
        self.workers: list[asyncio.Task[None]] = []
        self.last_error = ""
        self.retired = False

    @property
    def labels(self) -> dict[str, str]:
        return {"backend_type": self.type_name, "mesh": self.mesh, "backend": self.name}

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        self.workers = [asyncio.create_task(self._worker(), name=f"issuance-{self.mesh}-{i}")
                        for i in range(max(1, self.deps.config.concurrency))]
        self._gauge(0)  # the series exists (closed) from the start, so alerts can tell 0 from absent

    def retire(self) -> asyncio.Task[None] | None:
        """The mesh moved on: stop the workers, free the queue, close the backend; the breaker's
        series is removed. Returns the task closing the backend."""
        for w in self.workers:
            w.cancel()
        closing = self.release()
        if self.deps.metrics:  # the pool is gone: so is its breaker's series
            self.deps.metrics.breaker.remove(**self.labels)
        return closing

    def release(self) -> asyncio.Task[None] | None:
        """Free queued proxies (never attempted: free to be scheduled on a new pool) and close the backend."""
        self.retired = True
        while not self.queue.empty():
            self.queue.get_nowait().in_flight = False
        if self.backend is None:
            return None
        return asyncio.create_task(self._close_backend(self.backend))

    async def _close_backend(self, backend: CABackend) -> None:
        try:
            await backend.close()
        except Exception:  # noqa: BLE001 - an old backend failing to close must not stop the new one
            log.exception("mesh %s: closing backend %r failed", self.mesh, self.name)

    # -- dispatch and the breaker --------------------------------------------------
    def submit(self, p: ProxyState, now: float) -> None:
        """`p` is due: queue it for a worker, unless the breaker holds it back."""
        if not self.breaker.allow(p.key, now):
            self._hold(p)
            return
        p.due, p.in_flight = None, True
        self.queue.put_nowait(p)

    def forget(self, key: ProxyKey) -> None:
        """The proxy is gone: unpark it; if it was the probe, let another proxy probe."""
        self.parked.discard(key)
        self._release_probe(key)

    def _hold(self, p: ProxyState) -> None:
        """The breaker blocks `p`: retry when it may half-open, or when the probe ends."""
        if self.breaker.state == OPEN:
            self.deps.schedule(p, self.breaker.open_until)
        else:  # half-open, probe in flight: wait for its outcome
            p.due, p.parked = None, True
            self.parked.add(p.key)
        p.status = BREAKER_OPEN
        self.deps.changed(p.key)

    def _release_parked(self, at: float) -> None:
        for key in self.parked:
            p = self.deps.tracked(key)
            if p is not None and p.parked:
                p.parked = False
                self.deps.schedule(p, at)
        self.parked.clear()

    def _release_probe(self, key: ProxyKey) -> None:
        if self.breaker.probe == key:
            self.breaker.release(key)
            self._release_parked(self.deps.clock.now())

    def _gauge(self, value: int) -> None:
        if self.deps.metrics:
            self.deps.metrics.breaker.set(value, **self.labels)

    # -- issuing -------------------------------------------------------------------
    def _tracks(self, p: ProxyState) -> bool:
        return self.deps.tracked(p.key) is p

    async def _worker(self) -> None:
        while True:
            p = await self.queue.get()
            try:
                if not self._tracks(p):  # dropped while queued
                    self._release_probe(p.key)
                    continue
                if self.breaker.state != CLOSED and self.breaker.probe != p.key:
                    self._hold(p)  # the breaker opened while it was queued
                    continue
                await self._attempt(p)
            except Exception:  # noqa: BLE001 - a bug here must not cost the pool a worker
                log.exception("mesh %s dataplane %s: issuance bookkeeping failed", p.mesh, p.name)
                self._release_probe(p.key)
                if self._tracks(p):
                    self.deps.schedule(p, self.deps.clock.now() + self.deps.config.backoff_cap)
            finally:
                p.in_flight = False
            await self.deps.pacer.pace()

    async def _attempt(self, p: ProxyState) -> None:
        clock, timeout = self.deps.clock, self.deps.config.issue_timeout
        wanted = p.wanted(self.view.fingerprint)
        requested = clock.now()
        started = time.perf_counter()
        error: Exception | None = None
        try:
            if self.backend is None:
                raise BackendError(self.build_error, retryable=False)
            async with asyncio.timeout(timeout):
                cert = await self.backend.issue(Identity(p.mesh, p.name, p.tags), self.view.lifetime)
            _ = cert.leaf  # a backend answering with something that is not a certificate has failed
        except asyncio.CancelledError:
            self._release_probe(p.key)
            if self._tracks(p):
                p.in_flight = False
                self.deps.schedule(p, clock.now())
            raise
        except TimeoutError:
            error = BackendError(f"backend {self.name!r} did not answer within {timeout:g}s")
        except Exception as e:  # noqa: BLE001 - any failure is this proxy's failure
            error = e
        elapsed = time.perf_counter() - started
        now = clock.now()
        if not self._tracks(p) or self.retired:
            # Dropped, or the mesh moved to a new backend meanwhile: this outcome is moot.
            self._release_probe(p.key)
            if self._tracks(p):
                self.deps.schedule(p, now)
            return
        m = self.deps.metrics
        if m:
            m.seconds.observe(elapsed, **self.labels)
            m.total.inc(1.0, outcome="ok" if error is None else "error", **self.labels)
        if error is None:
            self._succeeded(p, cert, wanted, requested, now)
        else:
            self._failed(p, error, now)
        self.deps.changed(p.key)

    def _succeeded(self, p: ProxyState, cert: IssuedCert, wanted: str, requested: float, now: float) -> None:
        if not cert.backend:
            cert.backend = self.name
        self.deps.counters["rotated" if p.cert is not None else "issued"] += 1
        if p.cert is not None and p.renew_at is not None and p.issued_for == wanted:  # a scheduled renewal
            self.deps.rotations.record(p.renew_at, now, p.not_after)
        due = self.deps.certified(p, cert, wanted, requested, now)
        p.failures = 0
        if self.breaker.record_success(p.key):
            log.info("mesh %s: backend %r works again; breaker closed", self.mesh, self.name)
            self._release_parked(now)
            self._gauge(0)
        self.last_error = ""
        self.deps.schedule(p, due)

    def _failed(self, p: ProxyState, error: Exception, now: float) -> None:
        text = error_text(error)
        retryable = getattr(error, "retryable", True)
        if not isinstance(error, MzsimError):
            log.warning("mesh %s dataplane %s: unexpected issuance error", p.mesh, p.name, exc_info=error)
        if text != self.last_error:
            log.warning("mesh %s: backend %r failed for dataplane %s%s: %s", self.mesh, self.name, p.name,
                        "" if retryable else " (needs a configuration change)", text)
            self.last_error = text
        self.deps.counters["failed"] += 1
        p.failures += 1
        p.last_error, p.last_error_time = text, now
        p.status = BACKOFF if retryable else ERROR
        c = self.deps.config
        if self.breaker.record_failure(p.key, now):
            log.warning("mesh %s: breaker of backend %r open until %s (%d distinct proxies failed)", self.mesh,
                        self.name, iso(self.breaker.open_until), c.breaker_threshold)
            self._release_parked(self.breaker.open_until)
            self._gauge(1)
        # Retry n (failures counts from 1) waits base * 2**(n-1), capped, less up to `jitter` of it.
        self.deps.schedule(p, now + backoff_delay(p.failures - 1, c.backoff_base, c.backoff_cap,
                                                  jitter=c.backoff_jitter, rng=self.deps.rng))

    # -- reporting -----------------------------------------------------------------
    def stats(self, now: float) -> dict[str, Any]:
        b = self.breaker
        state = HALF_OPEN if b.state == OPEN and now >= b.open_until else b.state
        return {
            "mesh": self.mesh, "backend": self.name, "type": self.type_name, "breaker": state,
            "openUntil": iso(b.open_until) if state == OPEN else None, "timesOpened": b.times_opened,
            "failingProxies": b.failing, "queued": self.queue.qsize(), "parked": len(self.parked),
            "lastError": self.last_error,
        }
