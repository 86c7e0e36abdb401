"""Liveness that a busy loop cannot starve (issue 13): when this process's own
event loop is blocked for longer than the liveness timeout, the heartbeat tick
that comes late excuses that time instead of declaring the peer dead. A real
KDS server and zone client over loopback websockets, in one loop, which is
then blocked (as a long SQLite reconcile or a signing burst would block it)."""
from __future__ import annotations

import asyncio
import time

import pytest

from common.metrics import Registry
from common.store import Store
from common.tokens import ZoneTokens
from global_cp.config import KdsConfig, KdsTlsConfig
from global_cp.kds_server import KdsServer
from global_cp.zones import ZoneRegistry
from mzsim.waiting import free_port
from zone_cp.config import ZoneKdsConfig
from zone_cp.kds_client import KdsClient

TIMING = {"heartbeat_interval": 0.2, "liveness_timeout": 1.0}


async def wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_a_blocked_loop_does_not_end_healthy_sessions(tmp_path):
    config_store, zone_store = Store(str(tmp_path / "g.db")), Store(str(tmp_path / "zones.db"))
    zones = ZoneRegistry(config_store, zone_store, "g-1", TIMING["liveness_timeout"])
    port = free_port()
    server = KdsServer(KdsConfig(require_zone_token=False, tls=KdsTlsConfig(enabled=False), **TIMING),
                       host="127.0.0.1", port=port, instance_id="g-1", config_store=config_store,
                       zone_store=zone_store, zones=zones, tokens=ZoneTokens(config_store),
                       metrics=Registry(process=False))
    await server.start()
    zstore = Store(str(tmp_path / "z.db"))
    client = KdsClient("zone-1", "z-1", zstore, ZoneKdsConfig(**TIMING), global_address=f"ws://127.0.0.1:{port}",
                       environment="universal", token=lambda: "")
    client.start()
    try:
        await wait_for(lambda: client.connected, 10, "the zone to connect")
        await asyncio.sleep(0.5)  # a few heartbeats each way
        connects = client.connects
        time.sleep(2.5 * TIMING["liveness_timeout"])  # the whole loop blocked: both sides "silent"
        await asyncio.sleep(3 * TIMING["liveness_timeout"])  # time for a wrong liveness verdict to show
        assert client.connected and client.connects == connects, (
            f"the session ended after our own stall: {client.disconnect_reason}")
    finally:
        await client.stop()
        await server.stop()
        for s in (zstore, config_store, zone_store):
            s.close()
