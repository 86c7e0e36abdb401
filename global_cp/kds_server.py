"""The KDS websocket server on global: authenticates zones by token at the
HTTP upgrade, then drives one GlobalSession per connection. One live session
per zone: a new one closes the older (with the reason, on both sides). A
session whose token is revoked, or whose signing key is deleted, is closed."""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from common.errors import bind_error
from common.kds.adapters import StoreSource
from common.kds.driver import Driver, PeerClosed, SessionHooks, close_reason, limited
from common.kds.kinds import DOWNSTREAM_KINDS, down_filter
from common.kds.messages import CLOSE_SILENT, FrameError, decode, encode
from common.kds.protocol import (
    BatchAcked,
    BatchNacked,
    Event,
    GlobalSession,
    HelloReceived,
    ProtocolError,
)
from common.metrics import Registry
from common.schema.names import zone_name_problem
from common.store import Change, Store
from common.tokens import REVOCATIONS_SECRET, ZONE_KEY_PREFIX, TokenError, ZoneTokens

from .config import KdsConfig
from .zone_data import ZoneDataSink
from .zones import Subscription, ZoneRegistry

log = logging.getLogger("mzsim.global.kds")

ZONE_HEADER = "X-Mzsim-Zone"
CLOSE_REPLACED = 4000  # websocket close codes (private range); the reason says why
CLOSE_REVOKED = 4001


class _Live:
    """One open session: its socket, the token it presented, and why it was closed from outside."""

    def __init__(self, ws: ServerConnection, token: str | None, sink: ZoneDataSink) -> None:
        self.ws = ws
        self.token = token
        self.sink = sink
        self.closed_because = ""

    async def close(self, code: int, reason: str) -> None:
        self.closed_because = reason
        await self.ws.close(code, reason[:120])  # a close reason must fit in a control frame


class KdsServer:
    def __init__(self, config: KdsConfig, *, host: str, port: int, instance_id: str, config_store: Store,
                 zone_store: Store, zones: ZoneRegistry, tokens: ZoneTokens, metrics: Registry) -> None:
        self.config = config
        self.host, self.port = host, port
        self.instance_id = instance_id
        self.zone_store = zone_store
        self.config_store = config_store
        self.zones = zones
        self._live: dict[str, _Live] = {}
        self._closing: set[asyncio.Future[None]] = set()  # replaced sessions being closed (strong references)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.tokens = tokens
        self.source = StoreSource(config_store, DOWNSTREAM_KINDS, down_filter)
        self._wakeups: dict[int, asyncio.Event] = {}
        self._server: Server | None = None
        config_store.add_listener(self._on_store_change)
        self.m_refused = metrics.counter("mzsim_kds_connections_refused_total", "zone connections refused", ["reason"])
        self.m_sessions = metrics.gauge("mzsim_kds_sessions", "open zone sessions")
        self.m_frames_in = metrics.counter("mzsim_kds_frames_received_total", "frames received from zones", ["type"])
        self.m_bad_frames = metrics.counter("mzsim_kds_bad_frames_total", "undecodable frames from zones")

    def _on_store_change(self, changes: list[Change]) -> None:
        for ev in self._wakeups.values():
            ev.set()
        if self._loop is not None and any(
                c.kind == "GlobalSecret" and (c.name.startswith(ZONE_KEY_PREFIX) or c.name == REVOCATIONS_SECRET)
                for c in changes):
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._recheck_tokens()))
        created = [c.name for c in changes if c.kind == "Mesh" and not c.deleted]
        if created and self._loop is not None:
            self._loop.call_soon_threadsafe(self._meshes_created, created)

    def _meshes_created(self, meshes: list[str]) -> None:
        for live in list(self._live.values()):
            for mesh in meshes:
                live.sink.mesh_created(mesh)

    async def _recheck_tokens(self) -> None:
        """Close every live session whose token no longer verifies (revoked, or its key deleted)."""
        if not self.config.require_zone_token:
            return
        for zone, live in list(self._live.items()):
            try:
                self.tokens.verify(live.token, zone)
            except TokenError as e:
                self.m_refused.inc(reason="revoked")
                log.warning("zone %s: closing its session: %s", zone, e)
                await live.close(CLOSE_REVOKED, f"zone token no longer valid: {e}")

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            self._server = await serve(
                self._handle, self.host, self.port, ssl=tls,
                process_request=self._authenticate,
                max_size=self.config.max_frame_bytes + 64 * 1024,  # slack for the envelope
                ping_interval=None,  # liveness is the protocol's own heartbeat
                compression=None,
            )
        except OSError as e:
            raise bind_error(e, self.host, self.port) from None

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- authentication at upgrade time --------------------------------------
    def _authenticate(self, connection: ServerConnection, request: Request) -> Response | None:
        zone = request.headers.get(ZONE_HEADER, "")
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        peer = connection.remote_address
        if request.path.rstrip("/") not in ("", "/kds"):
            return connection.respond(HTTPStatus.NOT_FOUND, "KDS lives at /kds\n")
        if not zone:
            self.m_refused.inc(reason="no-zone")
            return connection.respond(HTTPStatus.BAD_REQUEST, f"missing {ZONE_HEADER} header\n")
        problem = zone_name_problem(zone)
        if problem:
            self.m_refused.inc(reason="zone-name")
            log.warning("refused a zone from %s: its name %r %s", peer, zone[:80], problem)
            return connection.respond(HTTPStatus.BAD_REQUEST, f"zone name {problem}\n")
        if self.config.require_zone_token:
            try:
                self.tokens.verify(token, zone)
            except TokenError as e:
                self.m_refused.inc(reason="token")
                log.warning("refused zone %r from %s: %s", zone, peer, e)
                return connection.respond(HTTPStatus.UNAUTHORIZED, f"{e}\n")
        if not self.zones.zone_enabled(zone):
            self.m_refused.inc(reason="disabled")
            log.warning("refused zone %r from %s: zone is disabled", zone, peer)
            return connection.respond(HTTPStatus.FORBIDDEN, f"zone {zone} is disabled on global\n")
        return None

    # -- one connection ------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        zone = ws.request.headers[ZONE_HEADER]
        auth = ws.request.headers.get("Authorization", "")
        sink = ZoneDataSink(self.zone_store, zone, lambda m: self.config_store.get("Mesh", m) is not None)
        live = _Live(ws, auth[7:] if auth.startswith("Bearer ") else None, sink)
        older = self._live.get(zone)
        self._live[zone] = live
        if older is not None:
            why = f"replaced by a newer session for zone {zone} from {ws.remote_address[0]}"
            log.warning("zone %s: a new session from %s; closing the older one from %s", zone,
                        ws.remote_address[0], older.ws.remote_address[0])
            # In the background: the older peer may be gone (its close handshake then waits out the
            # close timeout), and the new session must not wait on it.
            task = asyncio.ensure_future(older.close(CLOSE_REPLACED, why))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        session = GlobalSession(zone, self.instance_id, self.config, time.monotonic())
        hooks = _ZoneHooks(self, session)
        driver = Driver(ws, session, self.source, sink, hooks, log, f"zone {zone}")
        wake = asyncio.Event()
        self._wakeups[id(ws)] = wake
        reason = "connection closed"
        close_code = 1000
        self.m_sessions.inc()
        try:
            # The zone speaks first (hello); the hooks register the session on it.
            try:
                raw = await asyncio.wait_for(ws.recv(), self.config.liveness_timeout)
                hello = decode(raw)
            except TimeoutError:
                raise ProtocolError("no hello within the liveness timeout", CLOSE_SILENT) from None
            except FrameError as e:
                raise ProtocolError(f"bad hello: {e}", e.code) from None
            now = time.monotonic()
            await driver.process(session.receive(hello, now), now)
            await driver.run(wake)
        except PeerClosed as e:
            reason = str(e)
        except ProtocolError as e:
            reason = str(e)
            limited.warning(log, f"zone {zone}", "zone %s: %s; closing (%d)", zone, e, e.code)
            close_code = e.code
            try:
                await ws.send(encode({"type": "error", "message": reason}))
            except ConnectionClosed:
                pass
        except ConnectionClosed as e:
            reason = f"connection closed ({e.rcvd.code if e.rcvd else 'no close frame'})"
        finally:
            reason = live.closed_because or reason
            self.m_sessions.inc(-1)
            self._wakeups.pop(id(ws), None)
            if self._live.get(zone) is live:
                del self._live[zone]
            if hooks.sub is not None:
                self.zones.disconnected(hooks.sub, zone, reason)
                log.info("zone %s disconnected: %s", zone, reason)
            await ws.close(close_code, close_reason(reason))


class _ZoneHooks(SessionHooks):
    """One zone connection's reactions to its session: registry, logs and metrics."""

    def __init__(self, server: KdsServer, session: GlobalSession) -> None:
        self.server = server
        self.session = session
        self.sub: Subscription | None = None

    def on_frame(self, msg: dict[str, Any]) -> None:
        self.server.m_frames_in.inc(type=msg["type"])

    def on_bad_frame(self, err: FrameError) -> None:
        self.server.m_bad_frames.inc()
        limited.warning(log, f"bad frame {self.session.zone}", "zone %s sent a bad frame: %s", self.session.zone, err)

    def on_event(self, event: Event) -> None:
        zone = self.session.zone
        if isinstance(event, HelloReceived):
            hello = event.hello
            self.sub = self.server.zones.connected(zone, self.session.status, hello.get("zone_instance", ""),
                                                   str(hello.get("environment") or "universal"))
            log.info("zone %s connected (instance %s, applied version %s, global version %s)", zone,
                     hello["zone_instance"], hello["applied_version"], self.server.source.revision)
        elif isinstance(event, BatchAcked) and self.sub is not None:
            self.sub.nacked_version = None
        elif isinstance(event, BatchNacked):
            if self.sub is not None:  # a NACKed version is not "in sync", even once it is the acked one
                self.sub.nacked_version = event.version
            log.warning("zone %s rejected batch %s: %s", zone, event.nonce, event.error)
