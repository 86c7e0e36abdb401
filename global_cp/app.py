"""The global control plane process: stores, token issuer, KDS server, API."""
from __future__ import annotations

import logging
import os
import ssl
import uuid

from aiohttp import web

from common import datasource
from common.files import private_dir
from common.httpapi import make_error_middleware, openapi_handler, start_site
from common.metrics import Registry
from common.signals import wait_for_stop_signal
from common.store import Store
from common.tokens import UserTokens, ZoneTokens

from .api import GlobalApi
from .authz import Authz, ensure_admin_token
from .config import GlobalConfig
from .dashboard import DashboardRoutes, Feed
from .kds_server import KdsServer
from .tls import TlsConfigError, ensure_kds_certs, server_context, server_names
from .zone_metrics import zone_metrics
from .zones import ZoneRegistry

log = logging.getLogger("mzsim.global")


class GlobalCP:
    def __init__(self, config: GlobalConfig):
        self.config = config
        datasource.configure(config.datasource)
        self.instance_id = f"global-{uuid.uuid4().hex[:8]}"
        private_dir(config.data_dir)
        self.config_store = Store(os.path.join(config.data_dir, "global.db"))
        self.zone_store = Store(os.path.join(config.data_dir, "zones.db"))
        self.metrics = Registry()
        self.tokens = ZoneTokens(self.config_store)
        self.tokens.signer.ensure_key()  # create it at start, not on the first request
        self.users = UserTokens(self.config_store)
        self.admin_token_file = ensure_admin_token(self.config_store, self.users, config.data_dir)
        self.authz = Authz(config, self.users)
        self.zones = ZoneRegistry(self.config_store, self.zone_store, self.instance_id,
                                  config.kds.liveness_timeout)
        self.kds = KdsServer(config.kds, host=config.host, port=config.kds_port, instance_id=self.instance_id,
                             config_store=self.config_store, zone_store=self.zone_store, zones=self.zones,
                             tokens=self.tokens, metrics=self.metrics)
        self.metrics.add_collector(lambda: zone_metrics(self.zones))
        self.feed = Feed(config.dashboard, self.zones, self.config_store, self.zone_store)
        self.dashboard = DashboardRoutes(self.feed)
        self._runner: web.AppRunner | None = None

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.api.max_body_bytes,
                              middlewares=[make_error_middleware(), self.authz.middleware()])
        api = GlobalApi(self.config, self.config_store, self.zone_store, self.zones, self.tokens, self.metrics,
                        self.instance_id)
        app.add_routes(api.routes())
        app.add_routes(self.dashboard.routes())
        app.router.add_get("/openapi.yaml", openapi_handler("global_cp"))
        app.add_routes([web.post("/tokens/user", self.authz.user_token)])
        return app

    def _kds_tls(self) -> ssl.SSLContext | None:
        tls = self.config.kds.tls
        if not tls.enabled:
            log.warning("KDS is plain ws:// (kds.tls.enabled: false): zone tokens and secrets cross the "
                        "network in clear")
            return None
        cert, key = tls.cert_file, tls.key_file
        if bool(cert) != bool(key):
            raise TlsConfigError("--kds-tls-cert and --kds-tls-key go together; give both or neither")
        if not cert:
            cert, key = ensure_kds_certs(self.config.data_dir, server_names(self.config.host, tls.sans))
        return server_context(cert, key, "KDS")

    def _api_tls(self) -> ssl.SSLContext | None:
        api = self.config.api
        if bool(api.tls_cert) != bool(api.tls_key):
            raise TlsConfigError("--api-tls-cert and --api-tls-key go together; give both or neither")
        return server_context(api.tls_cert, api.tls_key, "API") if api.tls_cert else None

    async def start(self) -> None:
        api_tls, kds_tls = self._api_tls(), self._kds_tls()
        self._runner = await start_site(self.build_app(), self.config.host, self.config.api_port,
                                       self.config.http, api_tls)
        await self.kds.start(kds_tls)
        self.feed.start()
        log.info("global %s: API on %s, KDS on %s/kds, data in %s", self.instance_id, api_url(self.config),
                 kds_url(self.config), self.config.data_dir)

    async def stop(self) -> None:
        self.dashboard.close()
        await self.feed.stop()
        await self.kds.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        self.config_store.close()
        self.zone_store.close()


def api_url(config: GlobalConfig) -> str:
    return f"{'https' if config.api.tls_cert else 'http'}://{config.host}:{config.api_port}"


def kds_url(config: GlobalConfig) -> str:
    return f"{'wss' if config.kds.tls.enabled else 'ws'}://{config.host}:{config.kds_port}"


async def run(config: GlobalConfig) -> None:
    cp = GlobalCP(config)
    try:
        await cp.start()
    except BaseException:
        await cp.stop()
        raise
    await wait_for_stop_signal(f"mzsim global ready: api {api_url(config)} kds {kds_url(config)}/kds")
    log.info("shutting down")
    await cp.stop()
