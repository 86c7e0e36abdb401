"""Sessions with their store side: the driver's `settle` over StoreSource and
both processes' sinks, back to back through encode/decode. No sockets."""
from __future__ import annotations

import pytest

from common.kds.adapters import StoreSource
from common.kds.driver import settle
from common.kds.kinds import DOWNSTREAM_KINDS, UPSTREAM_KINDS, down_filter
from common.kds.messages import decode, encode
from common.kds.protocol import (
    Event,
    GlobalSession,
    Refused,
    SendFrames,
    Session,
    Timing,
    ZoneSession,
)
from common.resources import Resource, secret
from common.store import Store
from common.tokens import ZoneTokens
from global_cp.zone_data import ZoneDataSink
from zone_cp.downstream import ZoneDownstreamSink, applied_version

MESH = {"mtls": {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}}
CERTMANAGER_MESH = {"mtls": {"enabledBackend": "cm-1", "backends": [
    {"name": "cm-1", "type": "certmanager", "conf": {"issuerRef": {"name": "my-ca-issuer"}}}]}}


class End:
    """One side: a session with its source and sink, settled as the driver does."""

    def __init__(self, session: Session, source: StoreSource, sink: ZoneDataSink | ZoneDownstreamSink):
        self.session, self.source, self.sink = session, source, sink
        self.other: End
        self.outbox: list[dict] = []
        self.events: list[Event] = []  # what the transport would see

    def handle(self, events: list[Event], now: float) -> None:
        for ev in settle(self.session, events, self.source, self.sink, now):
            if isinstance(ev, SendFrames):
                self.outbox += [decode(encode(f)) for f in ev.frames]
            else:
                self.events.append(ev)

    def changed(self, now: float = 0.0) -> None:
        need = self.session.need_batch()
        self.handle([need] if need else [], now)


class Pair:
    def __init__(self, gstore: Store, zstore: Store, zone_data: Store, *, timing: Timing | None = None,
                 environment: str = "universal", now: float = 0.0):
        self.t = timing or Timing()
        self.now = now
        self.zstore = zstore
        self.g = End(GlobalSession("zone-1", "g-1", self.t, now),
                     StoreSource(gstore, DOWNSTREAM_KINDS, down_filter), ZoneDataSink(zone_data, "zone-1"))
        self.zone_session = zs = ZoneSession("zone-1", "z-1", self.t, now, environment=environment)
        self.z = End(zs, StoreSource(zstore, UPSTREAM_KINDS),
                     ZoneDownstreamSink(zstore, environment, lambda: (zs.status().welcome or {}).get("store_id", "")))
        self.g.other, self.z.other = self.z, self.g
        self.frames_to_zone = 0

    def start(self) -> Pair:
        self.z.handle(self.zone_session.start(*applied_version(self.zstore), self.now), self.now)
        self.pump()
        return self

    def pump(self, limit: int = 1000) -> None:
        for _ in range(limit):
            for end in (self.z, self.g):
                if end.outbox:
                    msg = end.outbox.pop(0)
                    self.frames_to_zone += end is self.g and msg["type"] == "resources"
                    receiver = end.other
                    receiver.handle(receiver.session.receive(msg, self.now), self.now)
                    break
            else:
                return
        raise AssertionError("no quiescence")

    def global_changed(self) -> None:
        self.g.changed(self.now)
        self.pump()

    def zone_changed(self) -> None:
        self.z.changed(self.now)
        self.pump()


@pytest.fixture
def stores():
    return Store(":memory:"), Store(":memory:"), Store(":memory:")


def test_first_connect_sends_a_full_snapshot_and_the_zone_acks(stores):
    g, z, zd = stores
    g.put(Resource("Mesh", "default", None, MESH))
    g.put(secret("s1", "hunter2", mesh="default"))
    p = Pair(g, z, zd).start()
    assert [r.name for r in z.list("Mesh")] == ["default"]
    assert z.get("Secret", "s1", "default").secret_bytes() == b"hunter2"
    assert p.g.session.status().acked_version == g.revision
    assert applied_version(z) == (g.store_id, g.revision)


def test_the_signing_key_never_goes_down(stores):
    g, z, zd = stores
    ZoneTokens(g).issue("zone-1", 60)
    g.put(secret("shared", "x", kind="GlobalSecret"))
    Pair(g, z, zd).start()
    assert [r.name for r in z.list("GlobalSecret")] == ["shared"]


def test_changes_are_pushed_as_deltas_and_removals_propagate(stores):
    g, z, zd = stores
    g.put(Resource("Mesh", "a", None, {}))
    p = Pair(g, z, zd).start()
    g.put(Resource("Mesh", "b", None, {}))
    p.global_changed()
    g.delete("Mesh", "a")
    p.global_changed()
    assert [r.name for r in z.list("Mesh")] == ["b"]
    assert p.g.session.status().stats["Mesh"].acked == 3


def test_one_batch_in_flight_coalesces_a_burst(stores):
    g, z, zd = stores
    p = Pair(g, z, zd).start()
    before = p.frames_to_zone
    g.put(Resource("Mesh", "m0", None, {}))
    p.g.changed()  # in flight, not yet delivered
    for i in range(1, 20):
        g.put(Resource("Mesh", f"m{i}", None, {}))
        assert p.g.session.need_batch() is None  # nothing more while one batch is unacknowledged
    p.pump()
    assert z.count("Mesh") == 20
    assert p.frames_to_zone - before == 2  # the first change, then the other 19 together


def test_a_change_to_kinds_the_zone_does_not_get_sends_nothing(stores):
    g, z, zd = stores
    p = Pair(g, z, zd).start()
    before = p.frames_to_zone
    g.put(Resource("Zone", "zone-9", None, {}))
    p.global_changed()
    assert p.frames_to_zone == before and p.g.session.status().acked_version == g.revision


def test_resume_sends_only_what_changed(stores):
    g, z, zd = stores
    for i in range(5):
        g.put(Resource("Mesh", f"m{i}", None, {}))
    Pair(g, z, zd).start()
    g.put(Resource("Mesh", "m9", None, {}))
    p2 = Pair(g, z, zd).start()
    assert p2.g.session.status().stats["Mesh"].sent == 1 and z.count("Mesh") == 6


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
    g.put(Resource("Mesh", "cm", None, CERTMANAGER_MESH))
    p = Pair(g, z, zd).start()
    assert [r.name for r in z.list("Mesh")] == ["ok"]
    st = p.g.session.status()
    assert st.nacks == 1
    assert "certmanager" in st.last_nack and "Kubernetes" in st.last_nack
    assert st.stats["Mesh"].rejected == 1
    # The zone moved on: the next change is a small delta, not the rejected mesh again.
    g.put(Resource("Mesh", "ok2", None, {}))
    p.global_changed()
    assert p.g.session.status().nacks == 1 and z.count("Mesh") == 2


def test_kubernetes_zone_accepts_a_certmanager_mesh(stores):
    g, z, zd = stores
    g.put(Resource("Mesh", "cm", None, CERTMANAGER_MESH))
    p = Pair(g, z, zd, environment="kubernetes").start()
    assert z.count("Mesh") == 1 and p.g.session.status().nacks == 0


def test_zone_resources_go_up_prefixed_and_reconcile(stores):
    g, z, zd = stores
    dp = {"networking": {"address": "10.0.0.1", "inbound": [{"port": 80, "tags": {"kuma.io/service": "web"}}]}}
    z.put(Resource("Dataplane", "web-1", "default", dp))
    z.put(Resource("Dataplane", "web-2", "default", dp))
    p = Pair(g, z, zd).start()
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
    p = Pair(g, z, zd).start()
    assert [r.name for r in zd.list("Dataplane")] == ["zone-1.good"]
    st = p.z.session.status()
    assert st.nacks == 1 and "bad" in st.last_nack
    assert p.g.session.status().last_receive_error == st.last_nack


def test_large_snapshots_are_chunked_under_the_frame_limit(stores):
    g, z, zd = stores
    for i in range(50):
        g.put(secret(f"s{i}", "x" * 3000, mesh="default"))
    p = Pair(g, z, zd, timing=Timing(max_frame_bytes=16 * 1024)).start()
    assert z.count("Secret") == 50
    assert p.frames_to_zone > 5


def test_a_resource_larger_than_a_frame_is_refused_not_sent(stores):
    g, z, zd = stores
    g.put(secret("huge", "x" * 40_000, mesh="default"))
    g.put(secret("small", "x", mesh="default"))
    p = Pair(g, z, zd, timing=Timing(max_frame_bytes=16 * 1024)).start()
    assert [r.name for r in z.list("Secret")] == ["small"]
    assert [e.resource for e in p.g.events if isinstance(e, Refused)] == ["Secret default/huge"]
