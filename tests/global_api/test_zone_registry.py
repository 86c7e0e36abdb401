"""Global's zone registry keeps subscription history across a global restart."""
from __future__ import annotations

import time

from common.kds.protocol import SessionStatus
from common.store import Store
from common.timefmt import parse_time
from global_cp.zones import ZoneRegistry


def status() -> SessionStatus:
    return SessionStatus(acked_version=3, acked_at=None, in_flight=None, nacks=0, last_nack="", rejected={}, stats={},
                         protocol_errors=0, last_protocol_error="", peer_errors=(),
                         last_received=time.monotonic(), batches_applied=1, last_receive_error="", hello=None,
                         welcome=None)


def test_a_session_open_when_global_died_ends_near_its_last_frame_after_a_restart(tmp_path):
    config, zones = Store(str(tmp_path / "g.db")), Store(str(tmp_path / "z.db"))
    before = time.time()
    ZoneRegistry(config, zones, "global-1", 5.0).connected("zone-1", status, "zone-1-abc", "universal")
    # global is killed here: no disconnected() call
    [sub] = ZoneRegistry(config, zones, "global-2", 5.0).subscriptions("zone-1")
    assert sub["disconnectReason"] == "global control plane restarted"
    ended = parse_time(sub["disconnectTime"]).timestamp()
    assert before - 1 <= ended <= time.time() + 1, sub
    config.close()
    zones.close()


def test_a_replaced_session_registered_after_its_replacement_does_not_take_the_zone_offline(tmp_path):
    # Under load the older connection's hello can be read after the newer one's: its subscription
    # is then the last one, and its close (as replaced) must not hide the live newer session.
    config, zones = Store(str(tmp_path / "g.db")), Store(str(tmp_path / "z.db"))
    registry = ZoneRegistry(config, zones, "global-1", 5.0)
    newer = registry.connected("zone-1", status, "zone-1-new", "universal")
    older = registry.connected("zone-1", status, "zone-1-old", "universal")
    registry.disconnected(older, "zone-1", "replaced by a newer session")
    s = registry.status("zone-1")
    assert s["active"] and s["zoneInstanceId"] == "zone-1-new" and s["disconnectTime"] is None, s
    registry.disconnected(newer, "zone-1", "zone shutting down")
    s = registry.status("zone-1")
    assert not s["active"] and s["disconnectReason"] in ("zone shutting down", "replaced by a newer session"), s
    config.close()
    zones.close()
