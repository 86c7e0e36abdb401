"""The engine's notion of time, injectable so tests of backoff and the breaker
run without real waiting. Times are epoch seconds, like certificate validity."""
from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Epoch seconds."""

    async def wait(self, event: asyncio.Event, timeout: float | None) -> None:
        """Return when `event` is set or `timeout` seconds have passed."""


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def wait(self, event: asyncio.Event, timeout: float | None) -> None:
        if timeout is None:
            await event.wait()
            return
        try:
            await asyncio.wait_for(event.wait(), max(0.0, timeout))
        except TimeoutError:
            pass


class ManualClock:
    """Time moves only when `advance()` is called (tests)."""

    def __init__(self, start: float | None = None):
        self._now = time.time() if start is None else start
        self._waiters: list[tuple[float, asyncio.Future]] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
        due = [w for w in self._waiters if w[0] <= self._now]
        self._waiters = [w for w in self._waiters if w[0] > self._now]
        for _, fut in due:
            if not fut.done():
                fut.set_result(None)

    async def wait(self, event: asyncio.Event, timeout: float | None) -> None:
        if timeout is not None and timeout <= 0:
            return
        waiters: list[asyncio.Future] = [asyncio.ensure_future(event.wait())]
        if timeout is not None:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append((self._now + timeout, fut))
            waiters.append(fut)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            self._waiters = [w for w in self._waiters if not w[1].done()]
