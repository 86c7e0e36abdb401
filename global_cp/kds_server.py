"""The KDS websocket server on global: authenticates zones by token at the
HTTP upgrade, then drives one GlobalSession per connection."""
from __future__ import annotations

import asyncio
import logging
import time
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from common.kds.adapters import StoreSource
from common.kds.kinds import DOWNSTREAM_KINDS, down_filter
from common.kds.driver import PeerClosed, SessionHooks, drive
from common.kds.messages import FrameError, decode, encode
from common.kds.protocol import GlobalSession, ProtocolError, Timing
from common.tokens import TokenError

from .zone_data import ZoneDataSink

log = logging.getLogger("mzsim.global.kds")

ZONE_HEADER = "X-Mzsim-Zone"


class KdsServer:
    def __init__(self, cp):
        self.cp = cp  # global_cp.app.GlobalCP
        cfg = cp.config.kds
        self.timing = Timing(cfg.heartbeat_interval, cfg.liveness_timeout, cfg.ack_timeout, cfg.max_frame_bytes)
        self.source = StoreSource(cp.config_store, DOWNSTREAM_KINDS, down_filter)
        self._wakeups: dict[int, asyncio.Event] = {}
        self._server = None
        cp.config_store.add_listener(self._on_store_change)
        m = cp.metrics
        self.m_refused = m.counter("mzsim_kds_connections_refused_total", "zone connections refused", ["reason"])
        self.m_sessions = m.gauge("mzsim_kds_sessions", "open zone sessions")
        self.m_frames_in = m.counter("mzsim_kds_frames_received_total", "frames received from zones", ["type"])
        self.m_bad_frames = m.counter("mzsim_kds_bad_frames_total", "undecodable frames from zones")

    def _on_store_change(self, changes) -> None:
        for ev in self._wakeups.values():
            ev.set()

    async def start(self) -> None:
        cfg = self.cp.config
        self._server = await serve(
            self._handle, cfg.host, cfg.kds_port,
            process_request=self._authenticate,
            max_size=self.timing.max_frame_bytes + 64 * 1024,  # slack for the envelope
            ping_interval=None,  # liveness is the protocol's own heartbeat
            compression=None,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- authentication at upgrade time --------------------------------------
    def _authenticate(self, connection: ServerConnection, request):
        zone = request.headers.get(ZONE_HEADER, "")
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        peer = connection.remote_address
        if request.path.rstrip("/") not in ("", "/kds"):
            return connection.respond(HTTPStatus.NOT_FOUND, "KDS lives at /kds\n")
        if not zone:
            self.m_refused.inc(reason="no-zone")
            return connection.respond(HTTPStatus.BAD_REQUEST, f"missing {ZONE_HEADER} header\n")
        if self.cp.config.kds.require_zone_token:
            try:
                self.cp.tokens.verify(token, zone)
            except TokenError as e:
                self.m_refused.inc(reason="token")
                log.warning("refused zone %r from %s: %s", zone, peer, e)
                return connection.respond(HTTPStatus.UNAUTHORIZED, f"{e}\n")
        if not self.cp.zones.zone_enabled(zone):
            self.m_refused.inc(reason="disabled")
            log.warning("refused zone %r from %s: zone is disabled", zone, peer)
            return connection.respond(HTTPStatus.FORBIDDEN, f"zone {zone} is disabled on global\n")
        return None

    # -- one connection ------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        zone = ws.request.headers[ZONE_HEADER]
        sink = ZoneDataSink(self.cp.zone_store, zone)
        session = GlobalSession(zone, self.cp.instance_id, self.source, sink, self.timing, time.monotonic())
        wake = asyncio.Event()
        self._wakeups[id(ws)] = wake
        sub = None
        reason = "connection closed"
        self.m_sessions.inc()
        try:
            # The zone speaks first (hello); the session registers on it.
            hello_frames = await self._first_frame(ws, session)
            sub = self.cp.zones.connected(session, session.hello.get("zone_instance", ""),
                                          str(session.hello.get("environment") or "universal"))
            log.info("zone %s connected (instance %s, applied version %s, global version %s)", zone,
                     session.hello["zone_instance"], session.hello["applied_version"], self.source.revision)
            await self._send(ws, hello_frames)
            await self._run(ws, session, wake)
        except PeerClosed as e:
            reason = str(e)
        except ProtocolError as e:
            reason = str(e)
            log.warning("zone %s: %s; closing", zone, e)
            try:
                await ws.send(encode({"type": "error", "message": reason}))
            except ConnectionClosed:
                pass
        except ConnectionClosed as e:
            reason = f"connection closed ({e.rcvd.code if e.rcvd else 'no close frame'})"
        finally:
            self.m_sessions.inc(-1)
            self._wakeups.pop(id(ws), None)
            if sub is not None:
                self.cp.zones.disconnected(sub, zone, reason)
                log.info("zone %s disconnected: %s", zone, reason)
            await ws.close()

    async def _first_frame(self, ws: ServerConnection, session: GlobalSession) -> list[dict]:
        try:
            raw = await asyncio.wait_for(ws.recv(), self.timing.liveness_timeout)
        except asyncio.TimeoutError:
            raise ProtocolError("no hello within the liveness timeout") from None
        try:
            msg = decode(raw)
        except FrameError as e:
            raise ProtocolError(f"bad hello: {e}") from None
        return session.receive(msg, time.monotonic())

    async def _send(self, ws: ServerConnection, frames: list[dict]) -> None:
        for f in frames:
            await ws.send(encode(f))

    async def _run(self, ws: ServerConnection, session: GlobalSession, wake: asyncio.Event) -> None:
        server = self

        class Hooks(SessionHooks):
            def on_frame(self, msg: dict) -> None:
                server.m_frames_in.inc(type=msg["type"])
                if msg["type"] == "nack":
                    log.warning("zone %s rejected batch %s: %s", session.zone, msg["nonce"], msg["error"])

            def on_bad_frame(self, err: FrameError) -> None:
                server.m_bad_frames.inc()
                log.warning("zone %s sent a bad frame: %s", session.zone, err)

        await drive(ws, session, wake, Hooks(), log, f"zone {session.zone}")
