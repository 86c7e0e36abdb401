"""The KDS session machines on their own: frames and plain resource lists in,
events out. No store, no sinks, no sockets."""
from __future__ import annotations

import dataclasses

import pytest

from common.kds.messages import FrameError, decode, encode
from common.kds.protocol import (
    BatchAcked,
    BatchNacked,
    BatchReceived,
    Event,
    GlobalSession,
    HelloReceived,
    NeedBatch,
    PeerSilent,
    Refused,
    SendFrames,
    SessionFailed,
    Timing,
    Welcomed,
    ZoneSession,
)
from common.resources import Resource, secret

MESH = {"mtls": {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}}


def frames(events: list[Event]) -> list[dict]:
    """The frames among `events`, as the peer decodes them."""
    return [decode(encode(f)) for e in events if isinstance(e, SendFrames) for f in e.frames]


def deliver(events: list[Event], to: GlobalSession | ZoneSession, now: float = 0.0) -> list[Event]:
    out: list[Event] = []
    for f in frames(events):
        out += to.receive(f, now)
    return out


def only(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def handshake(timing: Timing | None = None, *, zone_applied: tuple[str, int] = ("", 0),
              global_store: tuple[str, int] = ("gs-1", 0), zone_timing: Timing | None = None):
    """An open pair; returns (global, zone, what accept returned, what the welcome returned)."""
    t = timing or Timing()
    g = GlobalSession("zone-1", "g-1", t, 0.0)
    z = ZoneSession("zone-1", "z-1", zone_timing or t, 0.0)
    hello_events = deliver(z.start(*zone_applied, 0.0), g)
    assert [type(e) for e in hello_events] == [HelloReceived]
    accepted = g.accept(*global_store, 0.0)
    welcomed = deliver(accepted, z)
    return g, z, accepted, welcomed


def push(sender: GlobalSession | ZoneSession, receiver: GlobalSession | ZoneSession, upserts: list[Resource],
         removals: list | None = None, *, version: int, full: bool, rejected: list[str] | None = None,
         now: float = 0.0) -> list[Event]:
    """One batch from sender to receiver, applied with `rejected`; returns the sender's events on the answer."""
    received = deliver(sender.send_batch(upserts, removals or [], version, full, now), receiver, now)
    (batch_event,) = only(received, BatchReceived)
    answer = receiver.batch_applied(batch_event.batch.nonce, rejected or [], now)
    return deliver(answer, sender, now)


# -- handshake -------------------------------------------------------------------
def test_hello_welcome_and_both_directions_start_with_a_full_snapshot():
    g, z, accepted, welcomed = handshake(global_store=("gs-1", 7))
    welcome = frames(accepted)[0]
    assert welcome["type"] == "welcome" and welcome["store_id"] == "gs-1" and welcome["version"] == 7
    assert accepted[-1] == NeedBatch(None)
    assert [type(e) for e in welcomed] == [Welcomed, NeedBatch]
    assert welcomed[1] == NeedBatch(None)  # upstream always starts with a full snapshot
    assert g.status().hello["zone_instance"] == "z-1" and z.status().welcome["global_instance"] == "g-1"


def test_hello_carries_what_the_zone_applied_and_its_environment():
    z = ZoneSession("zone-1", "z-1", Timing(max_frame_bytes=5000), 0.0, environment="kubernetes")
    (hello,) = frames(z.start("gs-1", 4, 0.0))
    assert (hello["type"], hello["store_id"], hello["applied_version"]) == ("hello", "gs-1", 4)
    assert hello["environment"] == "kubernetes" and hello["max_frame_bytes"] == 5000


@pytest.mark.parametrize("zone_applied,global_store,since", [
    (("gs-1", 5), ("gs-1", 7), 5),  # a revision of this store: resume with a delta
    (("gs-1", 7), ("gs-1", 7), 7),
    (("other", 5), ("gs-1", 7), None),  # another store: full snapshot
    (("gs-1", 9), ("gs-1", 7), None),  # a revision from the future
    (("gs-1", 0), ("gs-1", 7), None),  # never applied anything
])
def test_resume_from_a_revision_of_this_store_only(zone_applied, global_store, since):
    _, _, accepted, _ = handshake(zone_applied=zone_applied, global_store=global_store)
    assert accepted[-1] == NeedBatch(since)


def test_nothing_is_sent_before_the_handshake():
    g = GlobalSession("zone-1", "g-1", Timing(), 0.0)
    z = ZoneSession("zone-1", "z-1", Timing(), 0.0)
    assert g.need_batch() is None and z.need_batch() is None
    hello = z.start("", 0, 0.0)
    assert z.need_batch() is None
    assert [type(e) for e in deliver(hello, g)] == [HelloReceived]
    assert g.need_batch() is None  # hello seen, not yet accepted


def test_hello_for_another_zone_is_refused():
    s = GlobalSession("zone-1", "g", Timing(), 0)
    out = s.receive({"type": "hello", "zone": "zone-2", "zone_instance": "x", "applied_version": 0,
                     "store_id": "", "max_frame_bytes": 1000}, 0)
    assert len(out) == 1 and isinstance(out[0], SessionFailed) and "token is for" in out[0].reason
    assert s.receive({"type": "heartbeat"}, 1) == [] and s.tick(100) == []  # a failed session stays quiet


def test_first_frames_must_be_the_handshake():
    (out,) = GlobalSession("zone-1", "g", Timing(), 0).receive({"type": "heartbeat"}, 0)
    assert isinstance(out, SessionFailed) and "expected hello first" in out.reason
    (out,) = ZoneSession("zone-1", "z", Timing(), 0).receive({"type": "ack", "nonce": "n"}, 0)
    assert isinstance(out, SessionFailed) and "expected welcome first" in out.reason
    (out,) = ZoneSession("zone-1", "z", Timing(), 0).receive({"type": "error", "message": "zone disabled"}, 0)
    assert isinstance(out, SessionFailed) and out.reason == "global refused the session: zone disabled"


def test_a_second_handshake_frame_ends_the_session():
    g, z, _, _ = handshake()
    (out,) = g.receive({"type": "hello", "zone": "zone-1", "zone_instance": "x", "applied_version": 0,
                        "store_id": "", "max_frame_bytes": 1000}, 0)
    assert isinstance(out, SessionFailed) and "unexpected hello" in out.reason
    (out,) = z.receive({"type": "welcome", "global_instance": "g", "store_id": "", "version": 0,
                        "max_frame_bytes": 1000}, 0)
    assert isinstance(out, SessionFailed) and "unexpected welcome" in out.reason


# -- batches -----------------------------------------------------------------------
def test_a_full_snapshot_goes_down_is_applied_and_acked():
    g, z, _, _ = handshake(global_store=("gs-1", 2))
    sent = [Resource("Mesh", "default", None, MESH), secret("s1", "hunter2", mesh="default")]
    received = deliver(g.send_batch(sent, [], 2, True, 0.0), z)
    (ev,) = received
    assert isinstance(ev, BatchReceived)
    assert ev.batch.full and ev.batch.version == 2 and ev.batch.upserts == sent
    assert g.need_batch() is None and g.status().in_flight == ev.batch.nonce
    (ack,) = frames(z.batch_applied(ev.batch.nonce, [], 0.0))
    assert ack == {"type": "ack", "nonce": ev.batch.nonce, "version": 2}
    assert g.receive(ack, 1.0) == [BatchAcked(ev.batch.nonce, 2), NeedBatch(2)]
    st = g.status()
    assert st.acked_version == 2 and st.acked_at == 1.0 and st.in_flight is None
    assert st.stats["Mesh"].acked == 1 and st.stats["Secret"].acked == 1
    assert z.status().batches_applied == 1


def test_deltas_carry_removals_and_count_per_kind():
    g, z, _, _ = handshake()
    push(g, z, [Resource("Mesh", "a", None, {})], version=1, full=True)
    push(g, z, [Resource("Mesh", "b", None, {})], version=2, full=False)
    received = deliver(g.send_batch([], [("Mesh", None, "a")], 3, False, 0.0), z)
    (ev,) = only(received, BatchReceived)
    assert not ev.batch.full and ev.batch.removals == [("Mesh", None, "a")] and ev.batch.upserts == []
    deliver(z.batch_applied(ev.batch.nonce, [], 0.0), g)
    assert g.status().stats["Mesh"].acked == 3 and g.status().acked_version == 3


def test_one_batch_in_flight_then_the_next_since_the_acked_version():
    """The driver coalesces a burst: while one batch is unanswered there is nothing to ask for."""
    g, z, _, _ = handshake()
    push(g, z, [], version=1, full=True)
    received = deliver(g.send_batch([Resource("Mesh", "m0", None, {})], [], 2, False, 0.0), z)
    assert g.need_batch() is None
    with pytest.raises(RuntimeError, match="in flight"):
        g.send_batch([Resource("Mesh", "m1", None, {})], [], 3, False, 0.0)
    answer = z.batch_applied(only(received, BatchReceived)[0].batch.nonce, [], 0.0)
    assert deliver(answer, g)[-1] == NeedBatch(2)


def test_a_delta_without_changes_moves_the_acked_version_silently():
    g, z, _, _ = handshake()
    push(g, z, [], version=1, full=True)
    assert g.send_batch([], [], 5, False, 0.0) == []  # only kinds the zone does not get changed
    assert g.need_batch() == NeedBatch(5) and g.status().acked_version == 5


def test_an_empty_full_snapshot_is_still_sent():
    """It is how a zone learns that everything it holds is gone."""
    g, z, _, _ = handshake()
    (ev,) = deliver(g.send_batch([], [], 0, True, 0.0), z)
    assert isinstance(ev, BatchReceived) and ev.batch.full and ev.batch.upserts == []


def test_a_delta_when_the_peer_needs_a_snapshot_is_a_bug():
    g, _, _, _ = handshake()
    with pytest.raises(ValueError, match="full snapshot"):
        g.send_batch([Resource("Mesh", "m", None, {})], [], 1, False, 0.0)


def test_the_application_decides_ack_or_partial_nack():
    g, z, _, _ = handshake()
    sent = [Resource("Mesh", "ok", None, {}), Resource("Mesh", "cm", None, {})]
    received = deliver(g.send_batch(sent, [], 2, True, 0.0), z)
    nonce = only(received, BatchReceived)[0].batch.nonce
    why = "Mesh cm: backend 'cm-1' is certmanager, which works only in Kubernetes zones"
    (nack,) = frames(z.batch_applied(nonce, [why], 0.0))
    assert nack == {"type": "nack", "nonce": nonce, "error": why, "rejected": [why], "version": 2}
    assert z.status().last_receive_error == why and z.status().batches_applied == 1
    out = g.receive(nack, 0.0)
    assert out == [BatchNacked(nonce, 2, why, [why]), NeedBatch(2)]  # the zone moved on: deltas from 2
    st = g.status()
    assert st.nacks == 1 and st.last_nack == why and st.acked_version == 2
    assert st.stats["Mesh"].rejected == 1 and st.stats["Mesh"].acked == 1 and st.stats["Mesh"].sent == 2


def test_a_rejected_resource_stays_rejected_until_the_peer_takes_it_or_it_goes():
    g, z, _, _ = handshake()

    def send(upserts, removals, version, full, rejected=()):
        (ev,) = only(deliver(g.send_batch(upserts, removals, version, full, 0.0), z), BatchReceived)
        deliver(z.batch_applied(ev.batch.nonce, list(rejected), 0.0), g)
        return dict(g.status().rejected)

    why = "Mesh cm: certmanager works only in Kubernetes zones"
    cm = Resource("Mesh", "cm", None, {})
    assert send([Resource("Mesh", "ok", None, {}), cm], [], 1, True, [why]) == {"Mesh cm": why}
    # Later batches that do not carry it are ACKed, and it is still refused.
    assert send([Resource("Mesh", "other", None, {})], [], 2, False) == {"Mesh cm": why}
    assert send([], [("Mesh", None, "ok")], 3, False) == {"Mesh cm": why}
    assert send([cm], [], 4, False) == {}  # sent again and taken
    assert send([cm], [], 5, False, [why]) == {"Mesh cm": why}
    assert send([], [("Mesh", None, "cm")], 6, False) == {}  # gone
    secret = Resource("Secret", "s", "m", {})
    assert send([secret], [], 7, False, ["Secret m/s: bad"]) == {"Secret m/s": "Secret m/s: bad"}
    assert send([], [], 8, True) == {}  # a snapshot the peer took whole


def test_stale_or_unknown_answers_are_ignored():
    g, z, _, _ = handshake()
    received = deliver(g.send_batch([Resource("Mesh", "m", None, {})], [], 1, True, 0.0), z)
    assert g.receive({"type": "ack", "nonce": "g-zone-1-99"}, 0.0) == []
    assert g.status().in_flight == only(received, BatchReceived)[0].batch.nonce
    with pytest.raises(ValueError, match="awaits an answer"):
        z.batch_applied("nope", [], 0.0)


def test_upstream_batches_and_nacks_work_the_same_way():
    g, z, _, welcomed = handshake()
    assert welcomed[-1] == NeedBatch(None)
    dp = Resource("Dataplane", "web-1", "default", {})
    out = push(z, g, [dp], version=3, full=True, rejected=["Dataplane default/web-1: networking: required"])
    assert only(out, BatchNacked)[0].rejected == ["Dataplane default/web-1: networking: required"]
    assert z.status().nacks == 1 and "web-1" in z.status().last_nack
    assert g.status().batches_applied == 1


# -- frames and limits ---------------------------------------------------------------
def test_large_batches_are_chunked_under_the_frame_limit_and_reassembled():
    limit = 16 * 1024
    g, z, _, _ = handshake(Timing(max_frame_bytes=limit))
    sent = [secret(f"s{i}", "x" * 3000, mesh="default") for i in range(50)]
    out = g.send_batch(sent, [("Secret", "default", "gone")], 1, True, 0.0)
    parts = frames(out)
    assert len(parts) > 5 and all(len(encode(f).encode()) <= limit for f in parts)
    assert len({f["nonce"] for f in parts}) == 1
    events = [z.receive(f, 0.0) for f in parts]
    assert all(e == [] for e in events[:-1])
    (ev,) = events[-1]
    assert isinstance(ev, BatchReceived) and len(ev.batch.upserts) == 50
    assert ev.batch.removals == [("Secret", "default", "gone")]


def test_the_smaller_frame_limit_of_the_two_sides_wins():
    g, _, _, _ = handshake(Timing(max_frame_bytes=1 << 20), zone_timing=Timing(max_frame_bytes=8 * 1024))
    parts = frames(g.send_batch([secret(f"s{i}", "x" * 3000, mesh="default") for i in range(10)], [], 1, True, 0))
    assert len(parts) > 2 and all(len(encode(f).encode()) <= 8 * 1024 for f in parts)


def test_a_resource_larger_than_a_frame_is_refused_not_sent():
    g, z, _, _ = handshake(Timing(max_frame_bytes=16 * 1024))
    out = g.send_batch([secret("huge", "x" * 40_000, mesh="default"), secret("small", "x", mesh="default")],
                       [], 1, True, 0.0)
    (refused,) = only(out, Refused)
    assert refused.resource == "Secret default/huge" and "exceeds the 16384-byte frame limit" in refused.reason
    (ev,) = deliver(out, z)
    assert [r.name for r in ev.batch.upserts] == ["small"]


def test_an_out_of_order_part_ends_the_session():
    g, z, _, _ = handshake(Timing(max_frame_bytes=8 * 1024))
    parts = frames(g.send_batch([secret(f"s{i}", "x" * 3000, mesh="default") for i in range(10)], [], 1, True, 0))
    (out,) = z.receive(parts[1], 0.0)
    assert isinstance(out, SessionFailed) and "out-of-order" in out.reason


def test_a_resources_frame_with_an_unknown_kind_ends_the_session():
    _, z, _, _ = handshake()
    (out,) = z.receive({"type": "resources", "nonce": "n", "part": 1, "parts": 1, "full": False,
                        "upserts": [{"kind": "Bogus", "name": "x"}], "removals": []}, 0.0)
    assert isinstance(out, SessionFailed) and "malformed resources frame" in out.reason


@pytest.mark.parametrize("raw,err", [
    ("not json", "not JSON"),
    ("[1,2]", "JSON object"),
    ('{"type":"bogus"}', "unknown frame type"),
    ('{"type":"ack"}', "field 'nonce'"),
    ('{"type":"resources","nonce":"n","part":2,"parts":1,"full":false,"upserts":[],"removals":[]}', "part"),
])
def test_bad_frames_are_reported_and_end_the_session_with_a_code(raw, err):
    g, z, _, _ = handshake()
    with pytest.raises(FrameError, match=err) as e:
        decode(raw)
    out = g.bad_frame(e.value, 1.0)
    (reply,) = frames(out[:1])
    assert reply["type"] == "error" and err.split()[0] in reply["message"]
    assert isinstance(out[1], SessionFailed) and out[1].code == 4400 and err.split()[0] in out[1].reason
    st = g.status()
    assert st.protocol_errors == 1 and err.split()[0] in st.last_protocol_error and st.last_received == 1.0
    assert g.need_batch() is None and g.receive({"type": "heartbeat"}, 2.0) == []


def test_error_frames_from_the_peer_are_kept_in_the_status():
    g, _, _, _ = handshake()
    for i in range(12):
        assert g.receive({"type": "error", "message": f"e{i}"}, 0.0) == []
    assert g.status().peer_errors == tuple(f"e{i}" for i in range(2, 12))


# -- liveness --------------------------------------------------------------------------
def test_heartbeats_and_liveness():
    g, z, _, _ = handshake(Timing(heartbeat_interval=1.0, liveness_timeout=3.0))
    assert g.tick(0.5) == []
    assert frames(g.tick(1.5)) == [{"type": "heartbeat"}]
    assert g.tick(2.0) == []  # it just sent one
    z.receive({"type": "heartbeat"}, 2.0)
    g.receive({"type": "heartbeat"}, 2.0)
    assert frames(g.tick(4.9)) == [{"type": "heartbeat"}]  # still alive: last frame at 2.0
    (out,) = g.tick(5.1)
    assert isinstance(out, PeerSilent) and "liveness timeout" in out.reason
    assert g.tick(6.0) == []


def test_sending_a_batch_postpones_the_heartbeat():
    g, _, _, _ = handshake(Timing(heartbeat_interval=1.0, liveness_timeout=100))
    g.send_batch([], [], 1, True, 0.9)
    assert g.tick(1.5) == []
    assert frames(g.tick(2.0)) == [{"type": "heartbeat"}]


def test_unacknowledged_batch_times_out():
    g, _, _, _ = handshake(Timing(ack_timeout=10, liveness_timeout=100))
    g.send_batch([Resource("Mesh", "m", None, {})], [], 1, True, 1.0)  # sent, never answered
    assert not only(g.tick(10.5), PeerSilent)
    (out,) = g.tick(12.0)
    assert isinstance(out, PeerSilent) and "not acknowledged within 10s" in out.reason


# -- status -------------------------------------------------------------------------
def test_status_is_an_immutable_snapshot():
    g, z, _, _ = handshake()
    before = g.status()
    push(g, z, [Resource("Mesh", "m", None, {})], version=4, full=True)
    assert before.acked_version is None and before.stats == {}
    assert g.status().acked_version == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.nacks = 3  # type: ignore[misc]
