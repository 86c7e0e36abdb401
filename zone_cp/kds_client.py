"""The zone's KDS client: dials global, runs a ZoneSession, reconnects with
jittered exponential backoff. The zone keeps working while disconnected."""
from __future__ import annotations

import asyncio
import logging
import random
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, InvalidURI, WebSocketException

from common.kds.adapters import StoreSource
from common.kds.kinds import DOWNSTREAM_KINDS, UPSTREAM_KINDS
from common.kds.driver import SessionHooks, drive
from common.kds.messages import FrameError, encode
from common.kds.protocol import ProtocolError, Timing, ZoneSession

from .downstream import ZoneDownstreamSink, applied_version

log = logging.getLogger("mzsim.zone.kds")

ZONE_HEADER = "X-Mzsim-Zone"


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random = random.Random()) -> float:
    """Full jitter: uniform(0, min(cap, base * 2**attempt)), at least base/2."""
    return max(base / 2, rng.uniform(0, min(cap, base * (2 ** attempt))))


class KdsClient:
    def __init__(self, zone):
        self.zone = zone  # zone_cp.app.Zone
        cfg = zone.config.kds
        self.timing = Timing(cfg.heartbeat_interval, cfg.liveness_timeout, cfg.ack_timeout, cfg.max_frame_bytes)
        self.source = StoreSource(zone.store, UPSTREAM_KINDS)
        self.session: ZoneSession | None = None
        self.connected = False
        self.last_error = ""
        self.connects = 0
        self.global_instance = ""
        self.removed: dict[str, int] = {}  # downstream deletions applied, by kind
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        zone.store.add_listener(self._on_change)

    def _on_change(self, changes) -> None:
        if any(c.kind in UPSTREAM_KINDS for c in changes):
            self._wake.set()
        for c in changes:
            if c.deleted and c.kind in DOWNSTREAM_KINDS:
                self.removed[c.kind] = self.removed.get(c.kind, 0) + 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"kds-{self.zone.name}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    def status(self) -> dict:
        store_id, version = applied_version(self.zone.store)
        s = self.session
        return {
            "connected": self.connected,
            "globalAddress": self.zone.config.global_address,
            "globalInstanceId": self.global_instance,
            "appliedVersion": version,
            "globalVersion": (s.welcome or {}).get("version") if s else None,
            "lastError": self.last_error,
            "connects": self.connects,
            "removedByGlobal": dict(self.removed),
            "upstream": {
                "ackedRevision": s.sender.acked_version if s else None,
                "nacks": s.sender.nacks if s else 0,
                "lastNack": s.sender.last_nack if s else "",
            },
        }

    async def _loop(self) -> None:
        attempt = 0
        cfg = self.zone.config.kds
        while True:
            started = time.monotonic()
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except InvalidStatus as e:
                body = (e.response.body or b"").decode(errors="replace").strip()
                self.last_error = f"global refused the connection ({e.response.status_code}): {body}"
                log.error("zone %s: %s", self.zone.name, self.last_error)
            except (OSError, InvalidURI, WebSocketException, ProtocolError, asyncio.TimeoutError) as e:
                self.last_error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                log.warning("zone %s: KDS connection to %s lost: %s", self.zone.name,
                            self.zone.config.global_address, self.last_error)
            finally:
                self.connected = False
            if time.monotonic() - started > cfg.liveness_timeout * 2:
                attempt = 0  # the last session was healthy for a while
            delay = backoff_delay(attempt, cfg.reconnect_base, cfg.reconnect_cap)
            attempt += 1
            await asyncio.sleep(delay)

    async def _connect_once(self) -> None:
        cfg = self.zone.config
        url = cfg.global_address.rstrip("/")
        if not url.endswith("/kds"):
            url += "/kds"
        headers = {ZONE_HEADER: self.zone.name}
        token = self.zone.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with connect(url, additional_headers=headers, max_size=cfg.kds.max_frame_bytes + 64 * 1024,
                           ping_interval=None, compression=None, open_timeout=cfg.kds.liveness_timeout,
                           close_timeout=1) as ws:
            sink = ZoneDownstreamSink(self.zone.store, cfg.environment,
                                      lambda: (self.session.welcome or {}).get("store_id", ""))
            session = ZoneSession(self.zone.name, self.zone.instance_id, self.source, sink, self.timing,
                                  time.monotonic(), applied_version=lambda: applied_version(self.zone.store),
                                  environment=cfg.environment)
            self.session = session
            try:
                await self._send(ws, session.start(time.monotonic()))
                await self._run(ws, session)
            except asyncio.CancelledError:
                await ws.close(1001, "zone shutting down")
                raise

    async def _send(self, ws: ClientConnection, frames: list[dict]) -> None:
        for f in frames:
            await ws.send(encode(f))

    async def _run(self, ws: ClientConnection, session: ZoneSession) -> None:
        client = self

        class Hooks(SessionHooks):
            def on_frame(self, msg: dict) -> None:
                if not client.connected and session.welcome is not None:
                    client._on_welcome(session)
                if msg["type"] == "nack":
                    log.warning("zone %s: global rejected upstream batch: %s", client.zone.name, msg["error"])

            def on_bad_frame(self, err: FrameError) -> None:
                log.warning("zone %s: bad frame from global: %s", client.zone.name, err)

        await drive(ws, session, self._wake, Hooks(), log, "global",
                    can_push=lambda: session.welcome is not None)

    def _on_welcome(self, session: ZoneSession) -> None:
        self.connected = True
        self.connects += 1
        self.last_error = ""
        self.global_instance = session.welcome["global_instance"]
        log.info("zone %s connected to global %s (global version %s)", self.zone.name,
                 self.global_instance, session.welcome["version"])
