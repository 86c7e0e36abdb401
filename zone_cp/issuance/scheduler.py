"""When each proxy is next due: one heap of (due time, proxy) for every mesh,
and one task that dispatches due proxies; thousands of dataplanes cost heap
entries, not tasks.

Rescheduling pushes a new entry and leaves the old one in the heap: an entry
is stale, and skipped, unless its time is still the proxy's `due` and the
proxy is tracked and not in flight (a completion reschedules it). When stale
entries outnumber live ones, the heap is rebuilt."""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable, Iterator, Mapping

from .clock import Clock
from .state import ProxyKey, ProxyState

log = logging.getLogger("mzsim.zone.issuance")

Dispatch = Callable[[ProxyState, float], None]


class Scheduler:
    def __init__(self, clock: Clock, proxies: Mapping[ProxyKey, ProxyState]):
        self.clock = clock
        self._proxies = proxies  # the tracked proxies, read only
        self._heap: list[tuple[float, int, ProxyKey]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        """Heap entries, stale ones included."""
        return len(self._heap)

    def schedule(self, p: ProxyState, at: float) -> None:
        p.due = at
        heapq.heappush(self._heap, (at, next(self._seq), p.key))
        if self._heap[0][2] == p.key:
            self._wake.set()

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> Iterator[ProxyState]:
        """Pop the proxies due at `now`, skipping stale entries. Lazy: what the caller
        schedules at or before `now` while iterating comes out in the same pass."""
        while self._heap and self._heap[0][0] <= now:
            at, _, key = heapq.heappop(self._heap)
            p = self._proxies.get(key)
            if p is not None and p.due == at and not p.in_flight:
                yield p

    def compact(self) -> bool:
        """Rebuild the heap from the live proxies if stale entries dominate; True if it did."""
        if len(self._heap) <= 4 * len(self._proxies) + 1024:
            return False
        self._heap = [(p.due, next(self._seq), k) for k, p in self._proxies.items()
                      if p.due is not None and not p.in_flight]
        heapq.heapify(self._heap)
        return True

    async def run(self, dispatch: Dispatch) -> None:
        """Dispatch every due proxy, then sleep until the next is due or an earlier one is scheduled."""
        while True:
            now = self.clock.now()
            for p in self.due(now):
                try:
                    dispatch(p, now)
                except Exception:  # noqa: BLE001 - one proxy must not stop the scheduler
                    log.exception("mesh %s dataplane %s: cannot dispatch", p.mesh, p.name)
            self.compact()
            self._wake.clear()
            at = self.next_due()
            await self.clock.wait(self._wake, None if at is None else at - now)
