"""Drives a KDS session over a websocket: all of the protocol's I/O, for
global and zones alike.

`settle` answers the events that need the local store (read the next batch
from the Source, apply a received batch through the Sink, give a hello the
store's id and revision), synchronously, so a session is never seen
half-updated. `Driver` sends the frames, logs refused resources, turns a
failure into ProtocolError and hands the remaining events to the transport's
hooks. It runs three cooperating tasks, none created per frame:

- the reader handles each frame as it arrives and sends the replies;
- the pusher waits for the local store to change and sends the next batch;
- the ticker sends heartbeats and enforces liveness.

The first task to fail (connection closed, protocol error) ends the session."""
from __future__ import annotations

import asyncio
import logging
import time

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed

from .adapters import Sink, Source
from .messages import CLOSE_INTERNAL, FrameError, decode, encode
from .protocol import (
    BatchReceived,
    Event,
    GlobalSession,
    HelloReceived,
    NeedBatch,
    ProtocolError,
    Refused,
    SendFrames,
    Session,
    SessionFailed,
)


class PeerClosed(ProtocolError):
    """The connection closed (the peer left or the network broke); `peer_code` is
    the close code the peer sent, None without a close frame."""

    def __init__(self, reason: str, peer_code: int | None = None):
        super().__init__(f"{reason} ({peer_code if peer_code is not None else 'no close frame'})")
        self.peer_code = peer_code


class LogLimiter:
    """At most one line per `interval` per key; the next line says how many were held back."""

    def __init__(self, interval: float = 10.0, max_keys: int = 10_000) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self._last: dict[str, tuple[float, int]] = {}

    def warning(self, log: logging.Logger, key: str, fmt: str, *args: object) -> None:
        now = time.monotonic()
        last, held = self._last.get(key, (float("-inf"), 0))
        if now - last < self.interval:
            self._last[key] = (last, held + 1)
            return
        if len(self._last) >= self.max_keys:
            self._last.clear()
        self._last[key] = (now, 0)
        suffix = f" ({held} more like it in the last {self.interval:g}s not logged)" if held else ""
        log.warning(fmt + "%s", *args, suffix)


# Bad frames and refused resources, per peer: a hostile or broken peer cannot flood the log.
limited = LogLimiter()


def close_reason(reason: str) -> str:
    """A websocket close reason is at most 123 bytes."""
    raw = reason.encode()
    return reason if len(raw) <= 123 else raw[:120].decode(errors="ignore") + "..."


class SessionHooks:
    """What the transport wants to know; every method is optional."""

    def on_frame(self, msg: dict) -> None: ...

    def on_bad_frame(self, err: FrameError) -> None: ...

    def on_event(self, event: Event) -> None: ...  # Welcomed, HelloReceived, BatchAcked, BatchNacked


def settle(session: Session, events: list[Event], source: Source, sink: Sink, now: float) -> list[Event]:
    """Carry out the store side of `events`; returns what is left, in order."""
    out: list[Event] = []
    for ev in events:
        if isinstance(ev, NeedBatch):
            changes = source.batch_since(ev.since)
            if changes is not None:
                out += settle(session, session.send_batch(changes.upserts, changes.removals, changes.version,
                                                          changes.full, now), source, sink, now)
        elif isinstance(ev, BatchReceived):
            rejected = sink.apply(ev.batch)
            out += settle(session, session.batch_applied(ev.batch.nonce, rejected, now), source, sink, now)
        elif isinstance(ev, HelloReceived):
            assert isinstance(session, GlobalSession)
            out.append(ev)
            out += settle(session, session.accept(source.store_id, source.revision, now), source, sink, now)
        else:
            out.append(ev)
    return out


class Driver:
    def __init__(self, ws: Connection, session: Session, source: Source, sink: Sink, hooks: SessionHooks,
                 log: logging.Logger, peer: str) -> None:
        self.ws = ws
        self.session = session
        self.source = source
        self.sink = sink
        self.hooks = hooks
        self.log = log
        self.peer = peer

    async def process(self, events: list[Event], now: float) -> None:
        """Settle `events` and act on the rest; raises ProtocolError when the session failed."""
        for ev in settle(self.session, events, self.source, self.sink, now):
            if isinstance(ev, SendFrames):
                for f in ev.frames:
                    await self.ws.send(encode(f))
            elif isinstance(ev, Refused):
                limited.warning(self.log, f"refused {self.peer}", "not sent to %s: %s: %s", self.peer, ev.resource,
                                ev.reason)
            elif isinstance(ev, SessionFailed):
                raise ProtocolError(ev.reason, ev.code)
            else:
                self.hooks.on_event(ev)

    async def handle_raw(self, raw: str | bytes) -> None:
        now = time.monotonic()
        try:
            msg = decode(raw)
        except FrameError as e:
            self.hooks.on_bad_frame(e)
            await self.process(self.session.bad_frame(e, now), now)
            return
        try:
            events = self.session.receive(msg, now)
            self.hooks.on_frame(msg)
            await self.process(events, now)
        except (ProtocolError, ConnectionClosed, asyncio.CancelledError):
            raise
        except Exception as e:  # noqa: BLE001 - a frame must never take the handler down with a traceback
            limited.warning(self.log, f"internal {self.peer}", "frame from %s could not be handled: %s: %s",
                            self.peer, type(e).__name__, e)
            raise ProtocolError(f"internal error handling a {msg.get('type')} frame ({type(e).__name__})",
                                CLOSE_INTERNAL) from None

    async def run(self, wake: asyncio.Event) -> None:
        """Run until the connection or the protocol fails; raises PeerClosed or ProtocolError."""
        session = self.session

        async def reader() -> None:
            async for raw in self.ws:
                await self.handle_raw(raw)
            # The iterator ends quietly on a normal close (1000/1001).
            raise PeerClosed(self.ws.close_reason or "connection closed", self.ws.close_code)

        async def pusher() -> None:
            while True:
                await wake.wait()
                wake.clear()
                need = session.need_batch()
                if need is not None:
                    await self.process([need], time.monotonic())

        async def ticker() -> None:
            period = min(session.timing.heartbeat_interval, session.timing.liveness_timeout / 4)
            while True:
                await asyncio.sleep(period)
                now = time.monotonic()
                await self.process(session.tick(now), now)

        tasks = [asyncio.ensure_future(c) for c in (reader(), pusher(), ticker())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                exc = t.exception()
                if isinstance(exc, ConnectionClosed):
                    frame = exc.rcvd
                    reason = frame.reason if frame and frame.reason else "connection closed"
                    raise PeerClosed(reason, frame.code if frame else None) from None
                if exc is not None:
                    raise exc
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
