"""Coalesced DataplaneInsight writes: the engine marks proxies dirty; a flush
writes all of them in one store transaction, and skips specs equal to the last
one written. The flush runs either from this writer's own task, `interval`
seconds after the first mark (an engine on its own), or from a ticker shared
by every zone of the process (`mzsim zone --count`), at its next tick: no timer
per zone. Either way a zone writes at most one transaction per interval.

Durability: an insight reaches the store at most one interval after the change
it reports; a crash loses at most that much, and the restarted engine reports
afresh (insights are derived state, rebuilt from the certificates it issues)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from common.resources import Resource
from common.store import Store

from .state import DEFER, ProxyKey

log = logging.getLogger("mzsim.zone.issuance")

FLUSH_CHUNK = 500  # insights per transaction: one transaction per flush unless a burst is larger
# spec_for(key): the spec to write; None if the proxy is gone; DEFER to look again next round.
SpecFor = Callable[[ProxyKey], object]


class Ticker(Protocol):
    """A periodic caller shared by many writers (zone_cp/ticker.SharedTicker)."""

    def add(self, fn: Callable[[], None]) -> int: ...

    def remove(self, handle: int) -> None: ...


class InsightWriter:
    def __init__(self, store: Store, spec_for: SpecFor, interval: float):
        self.store, self.spec_for, self.interval = store, spec_for, interval
        self._dirty: set[ProxyKey] = set()
        self._removed: set[ProxyKey] = set()
        self._last: dict[ProxyKey, dict] = {}
        self._event = asyncio.Event()
        self.writes = 0  # resources written, for stats and tests

    def mark(self, key: ProxyKey) -> None:
        self._removed.discard(key)
        self._dirty.add(key)
        self._event.set()

    def remove(self, key: ProxyKey) -> None:
        self._dirty.discard(key)
        self._last.pop(key, None)
        self._removed.add(key)
        self._event.set()

    def flush(self) -> None:
        dirty, removed = self._dirty, self._removed
        self._dirty, self._removed = set(), set()
        specs: dict[ProxyKey, dict] = {}
        for key in dirty:
            spec = self.spec_for(key)
            if spec is DEFER:
                self._dirty.add(key)
            elif isinstance(spec, dict) and self._last.get(key) != spec:
                specs[key] = spec
        if self._dirty:
            self._event.set()
        upserts = [Resource("DataplaneInsight", name, mesh, spec) for (mesh, name), spec in specs.items()]
        removals = [("DataplaneInsight", mesh, name) for mesh, name in removed]
        if not upserts and not removals:
            return
        try:
            # Chunks bound the memory of a flush after a burst (10,000 new certificates at once).
            for i in range(0, max(len(upserts), len(removals)), FLUSH_CHUNK):
                self.store.apply(upserts[i:i + FLUSH_CHUNK], removals[i:i + FLUSH_CHUNK])
        except BaseException:
            self._dirty |= dirty
            self._removed |= removed
            self._event.set()
            raise
        self._last.update(specs)
        self.writes += len(upserts)

    def tick(self) -> None:
        """A shared ticker's call: flush if anything is waiting; log a failure (retried next tick)."""
        if not self._event.is_set():
            return
        self._event.clear()
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - a full disk must not stop issuance; retry next round
            log.exception("cannot write DataplaneInsights")

    async def run(self) -> None:
        while True:
            await self._event.wait()
            # Gather what else changes meanwhile (e.g. "pending" becoming "ok"): one write, not two.
            await asyncio.sleep(self.interval)
            self._event.clear()
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a full disk must not stop issuance; retry next round
                log.exception("cannot write DataplaneInsights")
