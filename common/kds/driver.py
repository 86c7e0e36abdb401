"""Drives a KDS session over a websocket: the one transport loop both global
and zones use. Three cooperating tasks, none created per frame:

- the reader handles each frame as it arrives and sends the replies;
- the pusher waits for the local store to change and sends the next batch;
- the ticker sends heartbeats and enforces liveness.

State machine calls are synchronous, so the tasks never see it half-updated.
The first task to fail (connection closed, protocol error) ends the session."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from websockets.exceptions import ConnectionClosed

from .messages import FrameError, decode, encode
from .protocol import ProtocolError


class PeerClosed(ProtocolError):
    """The connection closed (the peer left or the network broke)."""


class SessionHooks:
    """What the transport wants to know; every method is optional."""

    def on_frame(self, msg: dict) -> None: ...

    def on_bad_frame(self, err: FrameError) -> None: ...


async def drive(ws, session, wake: asyncio.Event, hooks: SessionHooks, log: logging.Logger, peer: str,
                *, can_push: Callable[[], bool] = lambda: True) -> None:
    """Run until the connection or the protocol fails; raises PeerClosed or ProtocolError."""

    async def send(frames: list[dict]) -> None:
        for f in frames:
            await ws.send(encode(f))
        if session.sender.refused:
            for r in session.sender.refused:
                log.error("not sent to %s: %s", peer, r)
            session.sender.refused.clear()

    async def reader() -> None:
        async for raw in ws:
            now = time.monotonic()
            try:
                msg = decode(raw)
            except FrameError as e:
                hooks.on_bad_frame(e)
                await send(session.bad_frame(e, now))
                continue
            out = session.receive(msg, now)
            hooks.on_frame(msg)
            await send(out)
        # The iterator ends quietly on a normal close (1000/1001).
        raise PeerClosed(f"{ws.close_reason or 'connection closed'} ({ws.close_code})")

    async def pusher() -> None:
        while True:
            await wake.wait()
            wake.clear()
            if can_push():
                await send(session.poke(time.monotonic()))

    async def ticker() -> None:
        period = min(session.timing.heartbeat_interval, session.timing.liveness_timeout / 4)
        while True:
            await asyncio.sleep(period)
            await send(session.tick(time.monotonic()))

    tasks = [asyncio.ensure_future(c) for c in (reader(), pusher(), ticker())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            exc = t.exception()
            if isinstance(exc, ConnectionClosed):
                frame = exc.rcvd
                reason = frame.reason if frame and frame.reason else "connection closed"
                code = frame.code if frame else "no close frame"
                raise PeerClosed(f"{reason} ({code})") from None
            if exc is not None:
                raise exc
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
