"""The dashboard's feed (global_cp/dashboard/feed.py) on real stores and a real
zone registry: rows, deltas, derived events, hostile ZoneInsights, and the
rule that a NACKed version is not "in sync"."""
from __future__ import annotations

import time

import pytest

from common.kds.protocol import SessionStatus
from common.resources import Resource
from common.store import Store
from global_cp.config import DashboardConfig
from global_cp.dashboard.feed import MAX_TEXT, Feed
from global_cp.zones import ZoneRegistry


class Session:
    """A live session's status() as the KDS server's sessions give it."""

    def __init__(self, acked: int | None = None) -> None:
        self.acked, self.nacks, self.last_nack = acked, 0, ""

    def __call__(self) -> SessionStatus:
        return SessionStatus(acked_version=self.acked, acked_at=None, in_flight=None, nacks=self.nacks,
                             last_nack=self.last_nack, rejected={}, stats={}, protocol_errors=0,
                             last_protocol_error="", peer_errors=(), last_received=time.monotonic(),
                             batches_applied=1, last_receive_error="", hello=None, welcome=None)


@pytest.fixture
def world(tmp_path):
    config, zones = Store(str(tmp_path / "g.db")), Store(str(tmp_path / "z.db"))
    registry = ZoneRegistry(config, zones, "global-1", 5.0)
    feed = Feed(DashboardConfig(), registry, config, zones)
    yield config, zones, registry, feed
    config.close()
    zones.close()


def summary(mesh: str, **kw) -> dict:
    return {"mesh": mesh, "backend": "vault-1", "backendType": "vault", "proxies": 3, "valid": 3, "failing": 0,
            "expiringSoon": 0, "breaker": "closed", "lastError": "", **kw}


def test_rows_deltas_and_events(world):
    config, zones, registry, feed = world
    config.put(Resource("Mesh", "m1", None, {"mtls": {"enabledBackend": "vault-1",
                                                       "backends": [{"name": "vault-1", "type": "vault"}]}}))
    session = Session()
    sub = registry.connected("zone-1", session, "zone-1-abc", "universal")
    session.acked = config.revision  # the zone took everything (connecting stored its Zone)
    zones.put(Resource("ZoneInsight", "zone-1", None, {"meshSummaries": [summary("m1")]}))
    feed.tick()  # the baseline: no events for what was already there
    snap = feed.snapshot()
    assert [z["name"] for z in snap["zones"]] == ["zone-1"] and snap["zones"][0]["inSync"] is True
    assert snap["cells"][0]["backend"] == "vault-1" and snap["meshes"][0]["valid"] == 3
    assert feed.tick().keys() == {"type", "now"}  # nothing changed: a bare tick (global is alive)

    why = "vault-1: Get \"http://127.0.0.1:1/v1/pki/issue/r\": connection refused"
    zones.put(Resource("ZoneInsight", "zone-1", None, {"meshSummaries": [
        summary("m1", valid=1, failing=2, breaker="open", lastError=why)]}))
    frame = feed.tick()
    assert [c["failing"] for c in frame["cells"]["upsert"]] == [2]
    kinds = {e["kind"]: e["text"] for e in frame["events"]}
    assert why in kinds["issue-failure"] and why in kinds["breaker-open"]

    session.nacks, session.last_nack = 1, "Mesh m1: refused"
    sub.nacked_version = session.acked  # what the KDS hooks record on BatchNacked
    frame = feed.tick()
    [row] = frame["zones"]["upsert"]
    assert row["inSync"] is False and row["lastNack"] == "Mesh m1: refused"
    assert [e["kind"] for e in frame["events"]] == ["nack"]
    assert registry.status("zone-1")["inSync"] is False
    assert feed.zone_rows["zone-1"]["refused"] == {}  # a whole-batch NACK names no mesh

    registry.disconnected(sub, "zone-1", "zone shutting down (1001)")
    frame = feed.tick()
    [row] = frame["zones"]["upsert"]
    assert row["state"] == "offline" and row["disconnectReason"] == "zone shutting down (1001)"
    assert frame["events"][0]["kind"] == "disconnect" and "zone shutting down" in frame["events"][0]["text"]
    assert frame["heartbeats"]["zone-1"] > 0  # an offline zone's last heartbeat is sent, to show its age


def test_a_hostile_zone_insight_is_coerced_and_bounded(world):
    config, zones, registry, feed = world
    registry.connected("zone-1", Session(acked=config.revision), "zone-1-abc")
    zones.put(Resource("ZoneInsight", "zone-1", None, {"version": "x" * 10_000, "meshSummaries": [
        "not a mapping", {"mesh": 5}, {"mesh": "m1", "valid": "lots", "failing": None, "lastError": "e" * 10_000,
                                       "earliestExpiry": "not a time", "breaker": ["open"]}]}))
    feed.tick()
    [cell] = feed.snapshot()["cells"]
    assert cell["valid"] == 0 and cell["failing"] == 0 and cell["earliestExpiry"] is None
    assert len(cell["lastError"]) == MAX_TEXT and len(feed.snapshot()["zones"][0]["version"]) == MAX_TEXT
    zones.put(Resource("ZoneInsight", "zone-1", None, {"meshSummaries": "nope"}))
    feed.tick()
    assert feed.snapshot()["cells"] == []


def test_the_meshes_a_zone_refuses_are_read_from_its_partial_nack():
    from global_cp.dashboard.feed import refused_meshes
    assert refused_meshes(["Mesh cm: backend 'cm-1' is certmanager", "Dataplane m1/dp-0: mesh 'm1' is gone",
                           "Mesh odd/name: not a mesh label", "Mesh bare"]) == {
        "cm": "backend 'cm-1' is certmanager", "bare": ""}
