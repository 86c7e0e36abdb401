"""A userspace TCP proxy between one zone and global's KDS port, which the
scenario runner can cut or slow down.

`tc netem` needs a kernel module these machines lack, and a proxy also lets a
scenario cut one zone's link without touching the others. Two ways to cut:

- drop (the default): existing connections stay open but every byte is
  discarded in both directions, and new connections are accepted and
  black-holed. Neither side sees a FIN or RST, as in a real network partition:
  both must notice through their liveness timeouts. On heal, the connections
  that lived through the partition are reset (their peers gave up on them).
- reset: existing connections are reset at once and new ones are accepted and
  reset immediately, as when a firewall rejects the traffic.

A delay holds every chunk for a fixed latency in each direction, in order."""
from __future__ import annotations

import asyncio
import logging
import random
import socket
import time

log = logging.getLogger("mzsim.scenarios.proxy")

DROP, RESET = "drop", "reset"
CHUNK = 64 * 1024


class _Link:
    """One accepted connection and, unless black-holed, its upstream twin."""

    def __init__(self, proxy: FaultProxy, down_w: asyncio.StreamWriter):
        self.proxy = proxy
        self.down_w = down_w
        self.up_w: asyncio.StreamWriter | None = None
        self.stale = False  # lived through a drop partition: reset on heal

    def abort(self) -> None:
        """Reset both sides; their pumps then read EOF and end."""
        for w in (self.down_w, self.up_w):
            if w is not None:
                w.transport.abort()  # RST, not FIN: the peer must not think it was a clean close

    async def pump(self, reader: asyncio.StreamReader, writer_of) -> None:
        """Copy one direction. `writer_of()` is read per chunk, so a heal that
        has reset the link simply ends the pump."""
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                if self.proxy.cut is not None or self.stale:
                    continue  # dropped on the floor
                if self.proxy.latency:
                    await asyncio.sleep(self.proxy.chunk_delay())
                w = writer_of()
                if w is None or w.is_closing():
                    break
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # A FIN from one side is forwarded as a close, unless the link is cut
            # (then the other side hears nothing, as in a partition).
            if self.proxy.cut is None and not self.stale:
                self.abort()


class FaultProxy:
    def __init__(self, name: str, upstream_host: str, upstream_port: int, listen_port: int):
        self.name = name
        self.upstream = (upstream_host, upstream_port)
        self.port = listen_port
        self.cut: str | None = None  # None, DROP or RESET
        self.latency = 0.0
        self.jitter = 0.0
        self.rng = random.Random(0)
        self.accepted = 0
        self.since = 0.0  # when the current cut began (monotonic)
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                  family=socket.AF_INET, reuse_address=True)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.abort()
        self._links.clear()
        if self._server is not None:
            await self._server.wait_closed()

    # -- faults ------------------------------------------------------------
    def partition(self, mode: str = DROP) -> None:
        if mode not in (DROP, RESET):
            raise ValueError(f"partition mode must be {DROP} or {RESET}, not {mode!r}")
        self.cut, self.since = mode, time.monotonic()
        for link in list(self._links):
            if mode == RESET:
                link.abort()
                self._links.discard(link)
            else:
                link.stale = True
        log.debug("proxy %s: partitioned (%s), %d connections affected", self.name, mode, len(self._links))

    def heal(self) -> None:
        stale = [link for link in self._links if link.stale]
        for link in stale:
            link.abort()
            self._links.discard(link)
        self.cut, self.latency = None, 0.0
        log.debug("proxy %s: healed, %d stale connections reset", self.name, len(stale))

    def delay(self, seconds: float, jitter: float = 0.0, rng: random.Random | None = None) -> None:
        """Hold each chunk `seconds`, plus or minus up to `jitter` drawn from `rng` (seeded by the runner)."""
        self.latency, self.jitter, self.rng = seconds, jitter, rng or random.Random(0)

    def chunk_delay(self) -> float:
        if not self.jitter:
            return self.latency
        return max(0.0, self.latency + self.rng.uniform(-self.jitter, self.jitter))

    # -- connections ---------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(self, writer)
        try:
            await self._serve(link, reader)
        except asyncio.CancelledError:
            # The loop is shutting down. Python 3.11's start_server callback calls
            # exception() on a cancelled handler task and logs the CancelledError
            # as an error, so the handler ends normally instead.
            link.abort()
            self._links.discard(link)

    async def _serve(self, link: _Link, reader: asyncio.StreamReader) -> None:
        self.accepted += 1
        if self.cut == RESET:
            link.abort()
            return
        self._links.add(link)
        if self.cut == DROP:
            link.stale = True
            await link.pump(reader, lambda: None)  # read and discard until heal resets it
            return
        try:
            up_r, link.up_w = await asyncio.wait_for(asyncio.open_connection(*self.upstream), 5)
        except (TimeoutError, OSError):
            link.abort()  # global is down: the zone sees a reset, as it would without a proxy
            self._links.discard(link)
            return
        try:
            await asyncio.gather(link.pump(reader, lambda: link.up_w), link.pump(up_r, lambda: link.down_w),
                                 return_exceptions=True)
        finally:
            self._links.discard(link)
