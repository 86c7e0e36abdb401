"""The KDS state machines, driven directly: no sockets, in-memory stores."""
from __future__ import annotations

import pytest

from common.kds.adapters import StoreSource
from common.kds.kinds import DOWNSTREAM_KINDS, UPSTREAM_KINDS, down_filter
from common.kds.messages import FrameError, decode, encode
from common.kds.protocol import GlobalSession, ProtocolError, Timing, ZoneSession
from common.resources import Resource, secret
from common.store import Store
from global_cp.zone_data import ZoneDataSink
from zone_cp.downstream import ZoneDownstreamSink, applied_version

MESH = {"mtls": {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}}


class Pair:
    """A global session and a zone session wired back to back through encode/decode."""

    def __init__(self, gstore: Store, zstore: Store, zone_data: Store, *, timing: Timing | None = None,
                 environment: str = "universal", now: float = 0.0):
        self.t = timing or Timing()
        self.now = now
        self.gstore, self.zstore, self.zone_data = gstore, zstore, zone_data
        self.g = GlobalSession("zone-1", "g-1", StoreSource(gstore, DOWNSTREAM_KINDS, down_filter),
                               ZoneDataSink(zone_data, "zone-1"), self.t, now)
        self.z = ZoneSession("zone-1", "z-1", StoreSource(zstore, UPSTREAM_KINDS),
                             ZoneDownstreamSink(zstore, environment, lambda: (self.z.welcome or {}).get("store_id", "")),
                             self.t, now, applied_version=lambda: applied_version(zstore))
        self.to_global: list[dict] = []
        self.to_zone: list[dict] = []
        self.frames_to_zone = 0

    def start(self):
        self.to_global += self.z.start(self.now)
        self.pump()

    def pump(self, limit: int = 1000):
        for _ in range(limit):
            if self.to_global:
                msg = decode(encode(self.to_global.pop(0)))
                self.to_zone += self.g.receive(msg, self.now)
            elif self.to_zone:
                msg = decode(encode(self.to_zone.pop(0)))
                self.frames_to_zone += msg["type"] == "resources"
                self.to_global += self.z.receive(msg, self.now)
            else:
                return
        raise AssertionError("no quiescence")

    def global_changed(self):
        self.to_zone += self.g.poke(self.now)
        self.pump()

    def zone_changed(self):
        self.to_global += self.z.poke(self.now)
        self.pump()


@pytest.fixture
def stores():
    return Store(":memory:"), Store(":memory:"), Store(":memory:")


def test_first_connect_sends_a_full_snapshot_and_the_zone_acks(stores):
    g, z, zd = stores
    g.put(Resource("Mesh", "default", None, MESH))
    g.put(secret("s1", "hunter2", mesh="default"))
    p = Pair(g, z, zd)
    p.start()
    assert [r.name for r in z.list("Mesh")] == ["default"]
    assert z.get("Secret", "s1", "default").secret_bytes() == b"hunter2"
    assert p.g.sender.acked_version == g.revision
    assert applied_version(z) == (g.store_id, g.revision)


def test_the_signing_key_never_goes_down(stores):
    from common.tokens import ZoneTokens

    g, z, zd = stores
    ZoneTokens(g).issue("zone-1", 60)
    g.put(secret("shared", "x", kind="GlobalSecret"))
    Pair(g, z, zd).start()
    assert [r.name for r in z.list("GlobalSecret")] == ["shared"]


def test_changes_are_pushed_as_deltas_and_removals_propagate(stores):
    g, z, zd = stores
    g.put(Resource("Mesh", "a", None, {}))
    p = Pair(g, z, zd)
    p.start()
    g.put(Resource("Mesh", "b", None, {}))
    p.global_changed()
    g.delete("Mesh", "a")
    p.global_changed()
    assert [r.name for r in z.list("Mesh")] == ["b"]
    assert p.g.sender.stats["Mesh"].acked == 3


def test_one_batch_in_flight_coalesces_a_burst(stores):
    g, z, zd = stores
    p = Pair(g, z, zd)
    p.start()
    before = p.frames_to_zone
    g.put(Resource("Mesh", "m0", None, {}))
    p.to_zone += p.g.poke(p.now)  # in flight, not yet delivered
    for i in range(1, 20):
        g.put(Resource("Mesh", f"m{i}", None, {}))
        assert p.g.poke(p.now) == []  # nothing more while one batch is unacknowledged
    p.pump()
    assert z.count("Mesh") == 20
    assert p.frames_to_zone - before == 2  # the first change, then the other 19 together


def test_resume_sends_only_what_changed(stores):
    g, z, zd = stores
    for i in range(5):
        g.put(Resource("Mesh", f"m{i}", None, {}))
    Pair(g, z, zd).start()
    g.put(Resource("Mesh", "m9", None, {}))
    p2 = Pair(g, z, zd)
    p2.start()
    first = p2.g.sender.stats["Mesh"]
    assert first.sent == 1 and z.count("Mesh") == 6


def test_resume_from_another_store_gets_a_full_snapshot_that_reconciles(stores):
    g, z, zd = stores
    g.put(Resource("Mesh", "old", None, {}))
    Pair(g, z, zd).start()
    g2 = Store(":memory:")  # global lost its data: a different store id
    g2.put(Resource("Mesh", "new", None, {}))
    Pair(g2, z, zd).start()
    assert [r.name for r in z.list("Mesh")] == ["new"]


def test_no_transient_delete_on_reconnect(stores):
    """A zone that reconnects never loses a mesh that still exists, even for a moment."""
    g, z, zd = stores
    g.put(Resource("Mesh", "keep", None, {}))
    Pair(g, z, zd).start()
    seen_deletes = []
    z.add_listener(lambda changes: seen_deletes.extend(c for c in changes if c.deleted))
    g.put(Resource("Mesh", "other", None, {}))
    Pair(g, z, zd).start()
    g3 = Store(":memory:")
    g3.put(Resource("Mesh", "keep", None, {}))
    Pair(g3, z, zd).start()  # full snapshot path
    assert [c.name for c in seen_deletes] == ["other"]  # only the mesh that g3 lacks


def test_universal_zone_nacks_a_certmanager_mesh_and_keeps_the_rest(stores):
    g, z, zd = stores
    g.put(Resource("Mesh", "ok", None, {}))
    g.put(Resource("Mesh", "cm", None, {"mtls": {"enabledBackend": "cm-1", "backends": [
        {"name": "cm-1", "type": "certmanager", "conf": {"issuerRef": {"name": "my-ca-issuer"}}}]}}))
    p = Pair(g, z, zd)
    p.start()
    assert [r.name for r in z.list("Mesh")] == ["ok"]
    assert p.g.sender.nacks == 1
    assert "certmanager" in p.g.sender.last_nack and "Kubernetes" in p.g.sender.last_nack
    assert p.g.sender.stats["Mesh"].rejected == 1
    # The zone moved on: the next change is a small delta, not the rejected mesh again.
    g.put(Resource("Mesh", "ok2", None, {}))
    p.global_changed()
    assert p.g.sender.nacks == 1 and z.count("Mesh") == 2


def test_kubernetes_zone_accepts_a_certmanager_mesh(stores):
    g, z, zd = stores
    g.put(Resource("Mesh", "cm", None, {"mtls": {"enabledBackend": "cm-1", "backends": [
        {"name": "cm-1", "type": "certmanager", "conf": {"issuerRef": {"name": "my-ca-issuer"}}}]}}))
    p = Pair(g, z, zd, environment="kubernetes")
    p.start()
    assert z.count("Mesh") == 1 and p.g.sender.nacks == 0


def test_zone_resources_go_up_prefixed_and_reconcile(stores):
    g, z, zd = stores
    dp = {"networking": {"address": "10.0.0.1", "inbound": [{"port": 80, "tags": {"kuma.io/service": "web"}}]}}
    z.put(Resource("Dataplane", "web-1", "default", dp))
    z.put(Resource("Dataplane", "web-2", "default", dp))
    p = Pair(g, z, zd)
    p.start()
    assert sorted(r.name for r in zd.list("Dataplane")) == ["zone-1.web-1", "zone-1.web-2"]
    z.delete("Dataplane", "web-1", "default")
    p.zone_changed()
    assert [r.name for r in zd.list("Dataplane")] == ["zone-1.web-2"]
    assert zd.get("Dataplane", "zone-1.web-2", "default").meta["zone"] == "zone-1"


def test_invalid_resource_from_a_zone_is_nacked_and_the_rest_applied(stores):
    g, z, zd = stores
    z.put(Resource("Dataplane", "good", "default", {"networking": {"address": "10.0.0.1", "inbound": [
        {"port": 80, "tags": {"kuma.io/service": "web"}}]}}))
    z.put(Resource("Dataplane", "bad", "default", {"networking": {}}))
    p = Pair(g, z, zd)
    p.start()
    assert [r.name for r in zd.list("Dataplane")] == ["zone-1.good"]
    assert p.z.sender.nacks == 1 and "bad" in p.z.sender.last_nack


def test_large_snapshots_are_chunked_under_the_frame_limit(stores):
    g, z, zd = stores
    for i in range(50):
        g.put(secret(f"s{i}", "x" * 3000, mesh="default"))
    timing = Timing(max_frame_bytes=16 * 1024)
    p = Pair(g, z, zd, timing=timing)
    p.start()
    assert z.count("Secret") == 50
    assert p.frames_to_zone > 5


def test_a_resource_larger_than_a_frame_is_refused_not_sent(stores):
    g, z, zd = stores
    g.put(secret("huge", "x" * 40_000, mesh="default"))
    g.put(secret("small", "x", mesh="default"))
    p = Pair(g, z, zd, timing=Timing(max_frame_bytes=16 * 1024))
    p.start()
    assert [r.name for r in z.list("Secret")] == ["small"]
    assert any("huge" in r for r in p.g.sender.refused)


def test_heartbeats_and_liveness():
    g, z, zd = Store(":memory:"), Store(":memory:"), Store(":memory:")
    t = Timing(heartbeat_interval=1.0, liveness_timeout=3.0)
    p = Pair(g, z, zd, timing=t)
    p.start()
    assert p.g.tick(0.5) == []
    assert p.g.tick(1.5) == [{"type": "heartbeat"}]
    p.z.receive({"type": "heartbeat"}, 2.0)
    p.g.receive({"type": "heartbeat"}, 2.0)
    assert p.g.tick(4.9) == [{"type": "heartbeat"}]  # still alive: last frame at 2.0
    with pytest.raises(ProtocolError, match="liveness timeout"):
        p.g.tick(5.1)


def test_unacknowledged_batch_times_out():
    g, z, zd = Store(":memory:"), Store(":memory:"), Store(":memory:")
    p = Pair(g, z, zd, timing=Timing(ack_timeout=10, liveness_timeout=100))
    p.start()
    g.put(Resource("Mesh", "m", None, {}))
    p.g.poke(1.0)  # sent, never answered
    with pytest.raises(ProtocolError, match="not acknowledged"):
        p.g.tick(12.0)


@pytest.mark.parametrize("raw,err", [
    ("not json", "not JSON"),
    ("[1,2]", "JSON object"),
    ('{"type":"bogus"}', "unknown frame type"),
    ('{"type":"ack"}', "field 'nonce'"),
    ('{"type":"resources","nonce":"n","part":2,"parts":1,"full":false,"upserts":[],"removals":[]}', "part"),
])
def test_bad_frames_are_reported_and_the_session_survives(raw, err):
    g, z, zd = Store(":memory:"), Store(":memory:"), Store(":memory:")
    p = Pair(g, z, zd)
    p.start()
    with pytest.raises(FrameError, match=err):
        decode(raw)
    try:
        decode(raw)
    except FrameError as e:
        out = p.g.bad_frame(e, 1.0)
    assert out[0]["type"] == "error" and err.split()[0] in out[0]["message"]
    g.put(Resource("Mesh", "after", None, {}))
    p.global_changed()
    assert z.count("Mesh") == 1


def test_hello_for_another_zone_is_refused():
    g = Store(":memory:")
    s = GlobalSession("zone-1", "g", StoreSource(g, DOWNSTREAM_KINDS), ZoneDataSink(Store(":memory:"), "zone-1"),
                      Timing(), 0)
    with pytest.raises(ProtocolError, match="token is for"):
        s.receive({"type": "hello", "zone": "zone-2", "zone_instance": "x", "applied_version": 0,
                   "store_id": "", "max_frame_bytes": 1000}, 0)
