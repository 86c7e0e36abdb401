"""A small reconnect storm converges monotonically (issue 13): global is killed
with -9 and restarted while 30 zones with dataplanes are connected; from then on
the number of zones global has online and in sync only goes up, until all are.
Real processes: one global, one `mzsim zone --count 30`. bench/resync.py runs
the same at 100 and 1,000 zones and times it."""
from __future__ import annotations

import os

from mzsim.launcher import Global, Proc, http, watch_resync
from mzsim.waiting import free_port_range, wait_port

ZONES = 30
KDS = {"MZSIM_KDS_HEARTBEAT_INTERVAL": "300ms", "MZSIM_KDS_LIVENESS_TIMEOUT": "2s"}
MESH = {"type": "Mesh", "name": "default", "mtls": {"enabledBackend": "ca-1", "backends": [
    {"name": "ca-1", "type": "builtin", "dpCert": {"rotation": {"expiration": "1h"}}}]}}


def test_in_sync_count_never_falls_after_a_global_kill(tmp_path):
    g = Global(str(tmp_path), env={"MZSIM_KDS_REQUIRE_ZONE_TOKEN": "false", "MZSIM_KDS_TLS_ENABLED": "false",
                                   **KDS})
    g.start()
    zones = None
    try:
        assert http("PUT", g.api + "/meshes/default", MESH)[0] in (200, 201)
        port = free_port_range(ZONES)
        zones = Proc(["zone", "--count", str(ZONES), "--name-prefix", "rs-", "--api-port", str(port),
                      "--global-address", g.kds, "--data-dir", os.path.join(tmp_path, "zones"),
                      "--dataplanes", "5", "--services", "3"], os.path.join(tmp_path, "zones.log"),
                     {**KDS, "MZSIM_KDS_RECONNECT_BASE": "200ms", "MZSIM_KDS_RECONNECT_CAP": "2s"}).start()
        wait_port(port + ZONES - 1, timeout=60)
        first = watch_resync(g, ZONES, timeout=60)
        assert first["seconds"] is not None, f"zones never all in sync: {first['series'][-5:]}"
        for cycle in range(2):
            assert g.proc is not None
            g.proc.kill()  # SIGKILL: no goodbye to the zones
            g.start()
            seen = watch_resync(g, ZONES, timeout=60)
            assert seen["seconds"] is not None, (
                f"cycle {cycle}: not all {ZONES} zones back in sync in 60 s: {seen['series'][-10:]}\n"
                + g.proc.log()[-3000:])
            assert seen["largest_drop"] == 0, f"cycle {cycle}: the in-sync count fell: {seen['series']}"
            assert zones.alive(), zones.log()[-3000:]
    finally:
        if zones is not None:
            zones.stop()
        if g.proc is not None:
            g.proc.stop()
