"""A zone control plane: its own store, KDS client, issuance engine and API.
`run()` hosts one zone or, with --count, many independent zones in one process."""
from __future__ import annotations

import asyncio
import copy
import functools
import logging
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import version as _version
from typing import Any

from aiohttp import web

from common import datasource
from common.ca.base import BackendContext
from common.httpapi import make_error_middleware, openapi_handler, start_site
from common.metrics import Registry
from common.resources import Resource
from common.signals import wait_for_stop_signal
from common.store import Store

from .api import ZoneApi
from .config import ZoneConfig
from .issuance import IssuanceEngine
from .kds_client import KdsClient
from .mesh_summary import mesh_summaries, summary_metrics
from .procs import shard_range
from .simulated import simulated_dataplanes
from .ticker import SharedTicker

log = logging.getLogger("mzsim.zone")

ZONE_CP_VERSION = "mzsim-" + _version("mzsim")
INSIGHT_INTERVAL = 2.0  # seconds between ZoneInsight refreshes (written only when changed)
SIM_CHUNK = 500  # simulated dataplanes written per transaction at start
# 1 KiB pages (SQLite's default is 4): a zone store's seven tables and indexes each hold a page
# in the cache, about 21 KB less per zone with --count (bench/memory.py); rows over a page
# spill into overflow pages, which a zone's few thousand rows can afford.
ZONE_STORE_PAGE_SIZE = 1024
_RNG = random.Random()  # jitter for every zone's engine: one generator's state, not one per zone


@functools.cache
def _openapi() -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """One handler (and one copy of the spec's text) for every zone in the process."""
    return openapi_handler("zone_cp")


@dataclass
class Tickers:
    """The periodic work of every zone in the process, one task per period (zone_cp/ticker.py)."""
    zone_insights: SharedTicker
    dataplane_insights: SharedTicker

    @classmethod
    def for_config(cls, config: ZoneConfig) -> Tickers:
        return cls(SharedTicker(INSIGHT_INTERVAL, "zone-insights"),
                   SharedTicker(config.issuance.insight_flush_interval, "dataplane-insights"))

    async def stop(self) -> None:
        await asyncio.gather(self.zone_insights.stop(), self.dataplane_insights.stop())


class Zone:
    def __init__(self, config: ZoneConfig, tickers: Tickers | None = None):
        if not config.name:
            raise ValueError("a zone needs a name: pass --name")
        self.config = config
        datasource.configure(config.datasource)
        self.name = config.name
        self.instance_id = f"{self.name}-{uuid.uuid4().hex[:8]}"
        self.store = Store(os.path.join(config.data_dir, "zone.db"), page_size=ZONE_STORE_PAGE_SIZE)
        self.metrics = Registry()
        self.tickers = tickers or Tickers.for_config(config)
        self._own_tickers = tickers is None
        self.kds = (KdsClient(self.name, self.instance_id, self.store, config.kds, global_address=config.global_address,
                              environment=config.environment, token=self.token)
                    if config.global_address else None)
        self.engine = self._build_engine()
        self.metrics.add_collector(lambda: summary_metrics(self.engine))
        self._runner: web.AppRunner | None = None
        self._insight_handle: int | None = None
        self._last_insight: dict[str, Any] | None = None
        self.started = time.time()

    def _build_engine(self) -> IssuanceEngine:
        ctx = BackendContext(
            secret_lookup=lambda mesh, name: self.store.get("Secret", name, mesh),
            environment=self.config.environment,
            dp_key_type=self.config.issuance.dp_key_type,
            kubeconfig=self.config.kubeconfig or None,
            system_namespace=self.config.system_namespace,
            settings=self.config.backends,
            metrics=self.metrics,
        )
        return IssuanceEngine(self.store, ctx, self.config.issuance, rng=_RNG,
                              insight_ticker=self.tickers.dataplane_insights)

    def token(self) -> str:
        if self.config.token:
            return self.config.token.strip()
        if self.config.token_file:
            path = self.config.token_file.replace("{zone}", self.name)
            try:
                with open(path) as f:
                    return f.read().strip()
            except OSError as e:
                log.error("zone %s: cannot read token file %s: %s", self.name, path, e.strerror)
        return ""

    def status(self) -> dict[str, Any]:
        return {
            "zone": self.name,
            "instanceId": self.instance_id,
            "environment": self.config.environment,
            "kds": self.kds.status() if self.kds else {"connected": False, "standalone": True},
            "connected": bool(self.kds and self.kds.connected),
            "lastAckedVersion": self.kds.status()["appliedVersion"] if self.kds else None,
            "lastError": self.kds.last_error if self.kds else "",
            "disconnectReason": self.kds.disconnect_reason if self.kds else "",
            "meshes": self.store.count("Mesh"),
            "dataplanes": self.store.count("Dataplane"),
            "issuance": self.engine.stats() if self.engine else {},
        }

    def _insight(self) -> Resource:
        # Only slowly-changing facts, so an unchanged insight is not rewritten
        # (and resent to global) every interval; counters live on /status.
        stats = self.engine.stats() if self.engine else {}
        issuance = {"proxies": stats.get("proxies", 0), "certified": stats.get("certified", 0),
                    "openBreakers": sum(1 for b in stats.get("backends", []) if b["breaker"] != "closed")}
        return Resource("ZoneInsight", self.name, None, {
            "environment": self.config.environment,
            "zoneInstanceId": self.instance_id,
            "dataplanes": self.store.count("Dataplane"),
            "meshes": self.store.count("Mesh"),
            "issuance": issuance,
            "version": ZONE_CP_VERSION,
            "meshSummaries": mesh_summaries(self.engine),  # per-mesh certificates and backend health, for global
        })

    def _refresh_insight(self) -> None:
        """The shared ticker's call: write the ZoneInsight if it differs from the last one written
        (an unchanged one costs no store transaction)."""
        insight = self._insight()
        if insight.spec == self._last_insight:
            return
        try:
            self.store.put(insight)
        except Exception:  # noqa: BLE001 - keep reporting; log why
            log.exception("zone %s: cannot write ZoneInsight", self.name)
            return
        self._last_insight = insight.spec

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024, middlewares=[make_error_middleware()])
        api = ZoneApi(self.name, self.config.environment, self.store, self.engine, self.metrics, self.status)
        app.add_routes(api.routes())
        app.router.add_get("/openapi.yaml", _openapi())
        return app

    async def start(self) -> None:
        if self.config.dataplanes:
            dps = simulated_dataplanes(self.name, self.config.dataplanes, self.config.services, self.config.mesh)
            for i in range(0, len(dps), SIM_CHUNK):  # bounded transactions: a lower memory high-water mark
                self.store.apply(dps[i:i + SIM_CHUNK], [])
        await self.engine.start()
        self._runner = await start_site(self.build_app(), self.config.host, self.config.api_port,
                                       self.config.http)
        self._refresh_insight()
        self._insight_handle = self.tickers.zone_insights.add(self._refresh_insight)
        if self.kds:
            self.kds.start()
        log.info("zone %s (%s): API on http://%s:%d, global %s", self.name, self.config.environment,
                 self.config.host, self.config.api_port, self.config.global_address or "(none: standalone)")

    async def stop(self) -> None:
        if self._insight_handle is not None:
            self.tickers.zone_insights.remove(self._insight_handle)
        if self.kds:
            await self.kds.stop()
        await self.engine.stop()
        if self._runner:
            await self._runner.cleanup()
        if self._own_tickers:
            await self.tickers.stop()
        self.store.close()


def zone_configs(base: ZoneConfig) -> list[ZoneConfig]:
    """One config per zone: the named zone, or `count` zones named {prefix}{i}
    (from 1) on consecutive API ports; one data directory per zone."""
    if base.count <= 1 and base.name:
        cfg = copy.deepcopy(base)
        cfg.data_dir = os.path.join(base.data_dir, base.name)
        return [cfg]
    out = []
    for i in range(max(1, base.count)):
        cfg = copy.deepcopy(base)
        cfg.name = f"{base.name_prefix}{i + 1}"
        cfg.api_port = base.api_port + i
        cfg.data_dir = os.path.join(base.data_dir, cfg.name)
        out.append(cfg)
    return out


async def run(base: ZoneConfig, shard: tuple[int, int] | None = None) -> None:
    """Host the zones of `base` (with `shard` (k, P): only the k-th of P slices, for --procs)."""
    configs = zone_configs(base)
    if shard is not None:
        configs = [configs[i] for i in shard_range(len(configs), shard)]
    tickers = Tickers.for_config(base)
    zones = [Zone(cfg, tickers) for cfg in configs]
    for i, z in enumerate(zones):
        try:
            await z.start()
        except BaseException:
            await asyncio.gather(*(z.stop() for z in zones[:i + 1]), return_exceptions=True)
            await tickers.stop()
            raise
    names = ", ".join(z.name for z in zones) if len(zones) <= 5 else f"{len(zones)} zones"
    await wait_for_stop_signal(f"mzsim zone ready: {names} (API from port {zones[0].config.api_port})")
    log.info("shutting down")
    await asyncio.gather(*(z.stop() for z in zones), return_exceptions=True)
    await tickers.stop()
