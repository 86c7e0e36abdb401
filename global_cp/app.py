"""The global control plane process: stores, token issuer, KDS server, API."""
from __future__ import annotations

import logging
import os
import uuid

from aiohttp import web

from common.files import private_dir
from common.httpapi import make_error_middleware, start_site
from common.metrics import Registry
from common.signals import wait_for_stop_signal
from common.store import Store
from common.tokens import UserTokens, ZoneTokens

from .api import GlobalApi
from .authz import Authz, ensure_admin_token
from .config import GlobalConfig
from .kds_server import KdsServer
from .zones import ZoneRegistry

log = logging.getLogger("mzsim.global")


class GlobalCP:
    def __init__(self, config: GlobalConfig):
        self.config = config
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
        self._runner: web.AppRunner | None = None

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.api.max_body_bytes,
                              middlewares=[make_error_middleware(), self.authz.middleware()])
        api = GlobalApi(self.config, self.config_store, self.zone_store, self.zones, self.tokens, self.metrics,
                        self.instance_id)
        app.add_routes(api.routes())
        app.add_routes([web.post("/tokens/user", self.authz.user_token)])
        return app

    async def start(self) -> None:
        self._runner = await start_site(self.build_app(), self.config.host, self.config.api_port)
        await self.kds.start()
        log.info("global %s: API on http://%s:%d, KDS on ws://%s:%d/kds, data in %s", self.instance_id,
                 self.config.host, self.config.api_port, self.config.host, self.config.kds_port,
                 self.config.data_dir)

    async def stop(self) -> None:
        await self.kds.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        self.config_store.close()
        self.zone_store.close()


async def run(config: GlobalConfig) -> None:
    cp = GlobalCP(config)
    try:
        await cp.start()
    except BaseException:
        await cp.stop()
        raise
    await wait_for_stop_signal(f"mzsim global ready: api http://{config.host}:{config.api_port} "
                               f"kds ws://{config.host}:{config.kds_port}/kds")
    log.info("shutting down")
    await cp.stop()
