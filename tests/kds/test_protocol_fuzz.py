"""Hypothesis against the KDS session machines: random and mutated frames, raw or
decoded, never raise out of decode/receive/bad_frame, and the session's state stays
consistent (one failure, bounded reassembly, a status that always reads)."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.kds.messages import FrameError, decode, encode
from common.kds.protocol import (
    BatchReceived,
    Event,
    GlobalSession,
    SessionFailed,
    Timing,
    ZoneSession,
)
from common.resources import Resource

MAX_EXAMPLES = 300
TIMING = Timing(max_batch_parts=8, max_batch_bytes=64 * 1024)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


def wire(kind: str = "Mesh", name: str = "m", mesh: str | None = None) -> dict:
    return Resource(kind, name, mesh, {"a": 1}).to_wire()


def valid_frames() -> st.SearchStrategy[dict]:
    nonce = st.sampled_from(["n1", "n2", "g-zone-1-1", "z-zone-1-1"])
    part = st.integers(1, 4)
    upserts = st.lists(st.sampled_from([wire(), wire("Dataplane", "dp", "m"), wire("Secret", "s", "m")]), max_size=3)
    removals = st.lists(st.sampled_from([["Mesh", None, "m"], ["Dataplane", "m", "dp"]]), max_size=2)
    return st.one_of(
        st.builds(lambda n, p, extra, u, r, f, v: {"type": "resources", "nonce": n, "part": p, "parts": p + extra,
                                                   "full": f, "upserts": u, "removals": r, "version": v},
                  nonce, part, st.integers(0, 2), upserts, removals, st.booleans(), st.integers(0, 100)),
        st.builds(lambda n: {"type": "ack", "nonce": n, "version": 1}, nonce),
        st.builds(lambda n, e: {"type": "nack", "nonce": n, "error": e, "rejected": [e]}, nonce, st.text(max_size=10)),
        st.just({"type": "heartbeat"}),
        st.builds(lambda m: {"type": "error", "message": m}, st.text(max_size=10)),
        st.just({"type": "hello", "zone": "zone-1", "zone_instance": "z", "applied_version": 0, "store_id": "",
                 "max_frame_bytes": 1 << 20}),
        st.just({"type": "welcome", "global_instance": "g", "store_id": "s", "version": 0,
                 "max_frame_bytes": 1 << 20}),
    )


@st.composite
def mutated(draw: st.DrawFn) -> dict:
    frame = dict(draw(valid_frames()))
    for _ in range(draw(st.integers(0, 3))):
        keys = sorted(frame)
        action = draw(st.sampled_from(["drop", "set", "add"]))
        if action == "drop" and keys:
            frame.pop(draw(st.sampled_from(keys)))
        elif action == "set" and keys:
            frame[draw(st.sampled_from(keys))] = draw(json_values)
        else:
            frame[draw(st.text(max_size=8))] = draw(json_values)
    return frame


raw_frames = st.one_of(
    mutated().map(lambda f: json.dumps(f)),
    valid_frames().map(encode),
    st.text(max_size=200),
    st.binary(max_size=100),
    st.integers(1, 3000).map(lambda n: "[" * n),
    st.builds(lambda f, cut: encode(f)[:cut], valid_frames(), st.integers(0, 60)),
)


def opened() -> tuple[GlobalSession, ZoneSession]:
    g = GlobalSession("zone-1", "g-1", TIMING, 0.0)
    z = ZoneSession("zone-1", "z-1", TIMING, 0.0)
    (hello,) = [f for ev in z.start("", 0, 0.0) for f in ev.frames]  # type: ignore[attr-defined]
    g.receive(decode(encode(hello)), 0.0)
    for ev in g.accept("gs", 0, 0.0):
        for f in getattr(ev, "frames", []):
            z.receive(decode(encode(f)), 0.0)
    return g, z


def feed(session, inputs: list, answer: bool) -> None:
    failed = False
    now = 1.0
    for raw in inputs:
        now += 0.01
        if isinstance(raw, dict):
            try:
                msg = decode(json.dumps(raw))
            except FrameError as e:
                events = session.bad_frame(e, now)
            else:
                events = session.receive(msg, now)
        else:
            try:
                msg = decode(raw)
            except FrameError as e:
                events = session.bad_frame(e, now)
            else:
                events = session.receive(msg, now)
        assert all(isinstance(e, Event) for e in events)
        fails = [e for e in events if isinstance(e, SessionFailed)]
        if failed:
            assert events == [], "a failed session stays quiet"
        if fails:
            assert len(fails) == 1 and 4000 <= fails[0].code < 5000 and fails[0].reason
            failed = True
        for e in events:
            if isinstance(e, BatchReceived) and answer:
                session.batch_applied(e.batch.nonce, [], now)
        status = session.status()
        assert status.protocol_errors >= 0 and isinstance(status.rejected, dict)
        assert session._receiver.reassembler.held_bytes <= TIMING.max_batch_bytes
        assert session.tick(now) is not None
        if failed:
            assert session.need_batch() is None


@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(raw_frames, mutated()), max_size=12), st.booleans(), st.booleans())
def test_random_and_mutated_frames_never_escape(inputs, on_global, answer):
    g, z = opened()
    feed(g if on_global else z, inputs, answer)


@settings(max_examples=MAX_EXAMPLES, deadline=None)
@given(st.lists(valid_frames(), max_size=12))
def test_well_formed_frames_in_any_order_keep_the_state_consistent(frames):
    g, z = opened()
    feed(g, frames, True)
    feed(z, frames, True)
