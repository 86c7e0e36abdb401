"""One periodic task for many zones: `mzsim zone --count 1000` has 1,000
insight writers and 1,000 ZoneInsight refreshes; one SharedTicker per period
calls all of them, instead of a timer per zone in the event loop's heap.

The callbacks run in registration order, and the ticker yields to the loop
every `SLICE` seconds of work, so a tick over a thousand zones never holds the
loop (and KDS heartbeats) for longer than that. A callback that raises is
logged and keeps its place."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger("mzsim.zone")

SLICE = 0.005  # seconds of callbacks between yields to the loop


class SharedTicker:
    def __init__(self, interval: float, name: str):
        self.interval, self.name = interval, name
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next_id = 0
        self._task: asyncio.Task[None] | None = None

    def add(self, fn: Callable[[], None]) -> int:
        """Call `fn` every interval from now on; returns a handle for remove()."""
        self._next_id += 1
        self._callbacks[self._next_id] = fn
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"ticker-{self.name}")
        return self._next_id

    def remove(self, handle: int) -> None:
        self._callbacks.pop(handle, None)

    def __len__(self) -> int:
        return len(self._callbacks)

    async def tick(self) -> None:
        """Call every callback once (what each interval does)."""
        started = time.perf_counter()
        for handle, fn in list(self._callbacks.items()):
            if handle not in self._callbacks:  # removed during this tick
                continue
            try:
                fn()
            except Exception:  # noqa: BLE001 - one zone's failure must not stop the others' ticks
                log.exception("%s: a periodic callback failed", self.name)
            if time.perf_counter() - started > SLICE:
                await asyncio.sleep(0)
                started = time.perf_counter()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.tick()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
