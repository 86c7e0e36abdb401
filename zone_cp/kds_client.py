"""The zone's KDS client: dials global, runs a ZoneSession, reconnects with
jittered exponential backoff. The zone keeps working while disconnected."""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage, InvalidStatus, InvalidURI, WebSocketException

from common.backoff import backoff_delay
from common.kds.adapters import StoreSource
from common.kds.driver import Driver, PeerClosed, SessionHooks, close_reason, limited
from common.kds.kinds import DOWNSTREAM_KINDS, UPSTREAM_KINDS
from common.kds.messages import CLOSE_SILENT, FrameError
from common.kds.protocol import BatchNacked, Event, ProtocolError, Welcomed, ZoneSession
from common.store import Change, Store

from .config import ZoneKdsConfig
from .downstream import ZoneDownstreamSink, applied_version

log = logging.getLogger("mzsim.zone.kds")

ZONE_HEADER = "X-Mzsim-Zone"


def reconnect_after(cfg: ZoneKdsConfig, attempt: int, *, established: bool, silent: bool, refused: bool,
                    lasted: float) -> tuple[int, float]:
    """(the next attempt number, seconds to wait) after a session or a connect attempt ended.

    - A session that was established and not lost to silence, or that was healthy
      for a while, starts the next outage from the first delay.
    - Full jitter spreads a reconnect storm; the floor keeps a refused zone from spinning.
    - While nothing listens (global restarting) a retry costs global nothing, so the
      delay stays under `reconnect_refused_cap` and zones are back soon after it
      listens; a session lost to silence keeps escalating up to `reconnect_cap`."""
    if (established and not silent) or lasted > cfg.liveness_timeout * 2:
        attempt = 0
    cap = min(cfg.reconnect_cap, cfg.reconnect_refused_cap) if refused else cfg.reconnect_cap
    return attempt + 1, backoff_delay(attempt, cfg.reconnect_base, cap, jitter=1.0, floor=cfg.reconnect_base / 2)


class KdsClient:
    def __init__(self, zone: str, instance_id: str, store: Store, config: ZoneKdsConfig, *, global_address: str,
                 environment: str, token: Callable[[], str]) -> None:
        self.zone = zone
        self.instance_id = instance_id
        self.store = store
        self.config = config
        self.global_address = global_address
        self.environment = environment
        self.token = token  # read at each connect: the token file may change
        self.source = StoreSource(store, UPSTREAM_KINDS)
        self.session: ZoneSession | None = None
        self.connected = False
        self.last_error = ""
        self.disconnect_reason = ""  # why the last session ended, with its close code
        self.connects = 0
        self.global_instance = ""
        self.global_store_id = ""  # from the current session's welcome
        self.removed: dict[str, int] = {}  # downstream deletions applied, by kind
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        store.add_listener(self._on_change)

    def _on_change(self, changes: list[Change]) -> None:
        if any(c.kind in UPSTREAM_KINDS for c in changes):
            self._wake.set()
        for c in changes:
            if c.deleted and c.kind in DOWNSTREAM_KINDS:
                self.removed[c.kind] = self.removed.get(c.kind, 0) + 1

    def start(self) -> None:
        if self.config.tls_skip_verify and self.global_address.startswith("wss:"):
            log.warning("zone %s: --kds-tls-skip-verify: global's certificate is NOT verified; anyone on the "
                        "path can impersonate global and read this zone's token", self.zone)
        self._task = asyncio.create_task(self._loop(), name=f"kds-{self.zone}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    def status(self) -> dict[str, Any]:
        _, version = applied_version(self.store)
        s = self.session.status() if self.session else None
        return {
            "connected": self.connected,
            "globalAddress": self.global_address,
            "globalInstanceId": self.global_instance,
            "appliedVersion": version,
            "globalVersion": s.welcome.get("version") if s and s.welcome else None,
            "lastError": self.last_error,
            "disconnectReason": self.disconnect_reason,
            "connects": self.connects,
            "removedByGlobal": dict(self.removed),
            "upstream": {
                "ackedRevision": s.acked_version if s else None,
                "nacks": s.nacks if s else 0,
                "lastNack": s.last_nack if s else "",
            },
        }

    async def _loop(self) -> None:
        attempt = 0
        cfg = self.config
        while True:
            started, connects = time.monotonic(), self.connects
            refused = silent = False
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except PeerClosed as e:  # global closed it: replaced by a newer session, token revoked, ...
                silent = e.peer_code == CLOSE_SILENT  # global found this zone silent
                self.last_error = self.disconnect_reason = f"global closed the session: {e}"
                log.warning("zone %s: %s", self.zone, self.last_error)
            except ssl.SSLCertVerificationError as e:
                self.last_error = (f"cannot verify global's KDS certificate at {self.global_address}: "
                                   f"{e.verify_message}; trust the CA that signed it with --kds-ca-cert FILE "
                                   "(global generates data-dir/kds-ca.crt), or skip verification explicitly "
                                   "with --kds-tls-skip-verify")
                log.error("zone %s: %s", self.zone, self.last_error)
            except InvalidStatus as e:
                body = (e.response.body or b"").decode(errors="replace").strip()
                self.last_error = f"global refused the connection ({e.response.status_code}): {body}"
                log.error("zone %s: %s", self.zone, self.last_error)
            except (TimeoutError, OSError, InvalidURI, WebSocketException, ProtocolError) as e:
                refused = isinstance(e, ConnectionRefusedError)
                silent = isinstance(e, ProtocolError) and e.code == CLOSE_SILENT  # this zone found global silent
                self.last_error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                if isinstance(e, (InvalidMessage, EOFError, ConnectionResetError, ssl.SSLError)):
                    hint = await self._scheme_hint()
                    self.last_error = f"{hint} ({self.last_error})" if hint else self.last_error
                log.warning("zone %s: KDS connection to %s lost: %s", self.zone, self.global_address,
                            self.last_error)
            finally:
                self.connected = False
            attempt, delay = reconnect_after(cfg, attempt, established=self.connects > connects, silent=silent,
                                             refused=refused, lasted=time.monotonic() - started)
            await asyncio.sleep(delay)

    def _ssl(self) -> ssl.SSLContext:
        if self.config.tls_skip_verify:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        return ssl.create_default_context(cafile=self.config.ca_cert or None)

    async def _scheme_hint(self) -> str:
        """After a failed handshake: a hint if the port speaks the other scheme (TLS for ws://,
        plain HTTP for wss://), else ''. Only the failure path pays for this probe."""
        url = urlsplit(self.global_address)
        if url.scheme not in ("ws", "wss") or not url.hostname:
            return ""
        ctx = None
        if url.scheme == "ws":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # only asking whether it is TLS
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(url.hostname, url.port, ssl=ctx), 3)
            try:
                if ctx is not None:
                    return f"global's KDS port at {self.global_address} speaks TLS: dial wss:// instead of ws://"
                writer.write(b"GET /kds HTTP/1.1\r\nHost: probe\r\n\r\n")
                if (await asyncio.wait_for(reader.read(5), 3)) == b"HTTP/":
                    return (f"global's KDS port at {self.global_address} does not speak TLS "
                            "(kds.tls.enabled: false): dial ws:// instead of wss://")
            finally:
                writer.close()
        except (OSError, TimeoutError, ssl.SSLError):
            pass
        return ""

    async def _connect_once(self) -> None:
        cfg = self.config
        url = self.global_address.rstrip("/")
        if not url.endswith("/kds"):
            url += "/kds"
        headers = {ZONE_HEADER: self.zone}
        token = self.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        tls = self._ssl() if url.startswith("wss:") else None
        async with connect(url, additional_headers=headers, ssl=tls, max_size=cfg.max_frame_bytes + 64 * 1024,
                           ping_interval=None, compression=None, open_timeout=cfg.liveness_timeout,
                           close_timeout=1) as ws:
            now = time.monotonic()
            session = ZoneSession(self.zone, self.instance_id, cfg, now, environment=self.environment)
            self.session = session
            self.global_store_id = ""
            sink = ZoneDownstreamSink(self.store, self.environment, lambda: self.global_store_id)
            driver = Driver(ws, session, self.source, sink, _GlobalHooks(self), log, "global")
            try:
                store_id, version = applied_version(self.store)
                await driver.process(session.start(store_id, version, now), now)
                await driver.run(self._wake)
            except asyncio.CancelledError:
                await ws.close(1001, "zone shutting down")
                raise
            except PeerClosed as e:
                self.disconnect_reason = str(e)
                raise
            except ProtocolError as e:  # ours to report: tell global why, with the code
                self.disconnect_reason = str(e)
                await ws.close(e.code, close_reason(str(e)))
                raise

    def _on_welcome(self, welcome: dict[str, Any]) -> None:
        self.connected = True
        self.connects += 1
        self.last_error = ""
        self.global_instance = welcome["global_instance"]
        self.global_store_id = welcome["store_id"]
        log.info("zone %s connected to global %s (global version %s)", self.zone, self.global_instance,
                 welcome["version"])


class _GlobalHooks(SessionHooks):
    def __init__(self, client: KdsClient) -> None:
        self.client = client

    def on_event(self, event: Event) -> None:
        if isinstance(event, Welcomed):
            self.client._on_welcome(event.welcome)
        elif isinstance(event, BatchNacked):
            log.warning("zone %s: global rejected upstream batch: %s", self.client.zone, event.error)

    def on_bad_frame(self, err: FrameError) -> None:
        limited.warning(log, f"bad frame {self.client.zone}", "zone %s: bad frame from global: %s", self.client.zone,
                        err)
