"""The KDS state machines, free of sockets (sans-I/O).

A session is fed decoded frames and clock ticks, and returns the frames to
send. Reads and writes of the local store go through two small injected
interfaces (`Source` for what we send, `Sink` for what we receive) so the
machines run in unit tests against an in-memory store.

Flow control: each direction has at most one batch in flight. When it is
ACKed (or NACKed), the next batch carries everything that changed since the
version the peer acknowledged; so a burst of changes coalesces into one batch,
and a slow peer never builds a queue.

Resume: the zone's hello carries the global store id and revision it last
applied. Global answers with the changes since, or a full snapshot if it
cannot (another store, a revision in the future, compacted tombstones). A
full snapshot replaces the receiver's copy in one transaction: there are no
transient deletes.

Liveness: both sides send a heartbeat when they have sent nothing for
`heartbeat_interval`, and declare the peer dead after `liveness_timeout`
without any frame, or when a batch stays unacknowledged for `ack_timeout`.
"""
from __future__ import annotations

import itertools
from collections import Counter as _Counter
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

from ..resources import Resource
from .messages import PROTOCOL_VERSION, Batch, FrameError, Reassembler, chunk


@dataclass
class Timing:
    heartbeat_interval: float = 1.0
    liveness_timeout: float = 5.0
    ack_timeout: float = 30.0
    max_frame_bytes: int = 4 * 1024 * 1024


class Source(Protocol):
    store_id: str

    @property
    def revision(self) -> int: ...

    def snapshot(self) -> list[Resource]: ...

    def changes_since(self, version: int): ...  # (upserts, removals) or None


class Sink(Protocol):
    def apply(self, batch: Batch) -> list[str]: ...  # returns rejection messages


class ProtocolError(Exception):
    """The peer broke the protocol or went silent; the transport closes."""


@dataclass
class KindStats:
    sent: int = 0
    acked: int = 0
    rejected: int = 0


class Sender:
    """One direction of resource flow, with one batch in flight."""

    def __init__(self, source: Source, nonce_prefix: str):
        self.source = source
        self.acked_version: int | None = None  # None: the peer needs a full snapshot
        self.in_flight: Batch | None = None
        self.in_flight_since = 0.0
        self.max_frame_bytes = Timing.max_frame_bytes
        self._nonces = (f"{nonce_prefix}-{i}" for i in itertools.count(1))
        self.stats: dict[str, KindStats] = {}
        self.last_nack: str = ""
        self.nacks = 0
        self.refused: list[str] = []
        self.acked_at: float | None = None  # clock time of the last ACK/NACK

    def _kind_counts(self, batch: Batch) -> _Counter:
        c = _Counter(r.kind for r in batch.upserts)
        c.update(k for k, _, _ in batch.removals)
        return c

    def next_frames(self, now: float) -> list[dict]:
        if self.in_flight is not None:
            return []
        rev = self.source.revision
        if self.acked_version is None:
            batch = Batch(next(self._nonces), full=True, upserts=self.source.snapshot(), version=rev)
        else:
            if rev <= self.acked_version:
                return []
            changes = self.source.changes_since(self.acked_version)
            if changes is None:
                batch = Batch(next(self._nonces), full=True, upserts=self.source.snapshot(), version=rev)
            else:
                upserts, removals = changes
                if not upserts and not removals:
                    # Only kinds the peer does not get changed; nothing to send.
                    self.acked_version = rev
                    return []
                batch = Batch(next(self._nonces), full=False, upserts=upserts, removals=removals, version=rev)
        frames = chunk(batch, self.max_frame_bytes)
        self.refused.extend(batch.refused)
        self.in_flight, self.in_flight_since = batch, now
        for kind, n in self._kind_counts(batch).items():
            self.stats.setdefault(kind, KindStats()).sent += n
        return frames

    def on_response(self, nonce: str, error: str | None, rejected: Iterable[str] = (), now: float = 0.0) -> bool:
        """ACK (error None) or NACK. Returns False for a stale nonce."""
        batch = self.in_flight
        if batch is None or nonce != batch.nonce:
            return False
        self.in_flight = None
        self.acked_version = batch.version
        self.acked_at = now
        rejected_kinds = _Counter(str(r).split(" ", 1)[0] for r in rejected)
        for kind, n in self._kind_counts(batch).items():
            st = self.stats.setdefault(kind, KindStats())
            bad = min(n, rejected_kinds.get(kind, 0)) if error else 0
            st.rejected += bad
            st.acked += n - bad
        if error:
            self.nacks += 1
            self.last_nack = error
        return True

    def overdue(self, now: float, ack_timeout: float) -> bool:
        return self.in_flight is not None and now - self.in_flight_since > ack_timeout


class Receiver:
    """Reassembles batches and applies them through the sink."""

    def __init__(self, sink: Sink):
        self.sink = sink
        self.reassembler = Reassembler()
        self.applied_batches = 0
        self.last_error = ""

    def on_frame(self, frame: dict) -> list[dict]:
        batch = self.reassembler.add(frame)
        if batch is None:
            return []
        rejected = self.sink.apply(batch)
        self.applied_batches += 1
        if rejected:
            self.last_error = "; ".join(rejected)
            return [{"type": "nack", "nonce": batch.nonce, "error": self.last_error, "rejected": rejected,
                     "version": batch.version}]
        return [{"type": "ack", "nonce": batch.nonce, "version": batch.version}]


class _Session:
    def __init__(self, timing: Timing, now: float):
        self.timing = timing
        self.last_received = now
        self.last_sent = now
        self.protocol_errors = 0
        self.last_protocol_error = ""
        self.peer_errors: list[str] = []
        self.sender: Sender
        self.receiver: Receiver

    def _out(self, frames: list[dict], now: float) -> list[dict]:
        if frames:
            self.last_sent = now
        return frames

    def tick(self, now: float) -> list[dict]:
        """Heartbeats and liveness. Raises ProtocolError when the peer is gone."""
        silent = now - self.last_received
        if silent > self.timing.liveness_timeout:
            raise ProtocolError(f"no frame from peer for {silent:.1f}s (liveness timeout "
                                f"{self.timing.liveness_timeout:g}s)")
        if self.sender.overdue(now, self.timing.ack_timeout):
            raise ProtocolError(f"batch {self.sender.in_flight.nonce} not acknowledged within "
                                f"{self.timing.ack_timeout:g}s")
        if now - self.last_sent >= self.timing.heartbeat_interval:
            return self._out([{"type": "heartbeat"}], now)
        return []

    def poke(self, now: float) -> list[dict]:
        """The local store changed."""
        return self._out(self.sender.next_frames(now), now)

    def bad_frame(self, err: FrameError, now: float) -> list[dict]:
        """A frame could not be decoded: say so to the peer and carry on."""
        self.last_received = now
        self.protocol_errors += 1
        self.last_protocol_error = str(err)
        return self._out([{"type": "error", "message": str(err)}], now)

    def _common(self, msg: dict, now: float) -> list[dict] | None:
        mtype = msg["type"]
        if mtype == "heartbeat":
            return []
        if mtype == "error":
            self.peer_errors = (self.peer_errors + [msg["message"]])[-10:]
            return []
        if mtype in ("ack", "nack"):
            rejected = msg.get("rejected") if isinstance(msg.get("rejected"), list) else []
            self.sender.on_response(msg["nonce"], msg.get("error") if mtype == "nack" else None, rejected, now)
            return self.sender.next_frames(now)
        if mtype == "resources":
            return self.receiver.on_frame(msg)
        return None


class GlobalSession(_Session):
    """Global's side of one zone connection. `zone` is the authenticated name."""

    def __init__(self, zone: str, global_instance: str, source: Source, sink: Sink, timing: Timing, now: float):
        super().__init__(timing, now)
        self.zone = zone
        self.global_instance = global_instance
        self.sender = Sender(source, f"g-{zone}")
        self.receiver = Receiver(sink)
        self.sender.max_frame_bytes = timing.max_frame_bytes
        self.hello: dict | None = None

    def receive(self, msg: dict, now: float) -> list[dict]:
        self.last_received = now
        if self.hello is None:
            if msg["type"] != "hello":
                raise ProtocolError(f"expected hello first, got {msg['type']!r}")
            return self._out(self._on_hello(msg, now), now)
        if msg["type"] in ("hello", "welcome"):
            raise ProtocolError(f"unexpected {msg['type']} frame in an open session")
        out = self._common(msg, now)
        return self._out(out or [], now)

    def _on_hello(self, msg: dict, now: float) -> list[dict]:
        if msg["zone"] != self.zone:
            raise ProtocolError(f"hello names zone {msg['zone']!r} but the token is for {self.zone!r}")
        self.hello = msg
        self.sender.max_frame_bytes = min(self.timing.max_frame_bytes, msg["max_frame_bytes"])
        src = self.sender.source
        applied = msg["applied_version"]
        # Resume with a delta only from a revision of *this* store that exists.
        if msg["store_id"] == src.store_id and 0 < applied <= src.revision:
            self.sender.acked_version = applied
        welcome = {"type": "welcome", "global_instance": self.global_instance, "store_id": src.store_id,
                   "version": src.revision, "max_frame_bytes": self.timing.max_frame_bytes,
                   "protocol": PROTOCOL_VERSION}
        return [welcome] + self.sender.next_frames(now)


class ZoneSession(_Session):
    """The zone's side of its connection to global."""

    def __init__(self, zone: str, zone_instance: str, source: Source, sink: Sink, timing: Timing, now: float,
                 *, applied_version: Callable[[], tuple[str, int]], environment: str = "universal"):
        super().__init__(timing, now)
        self.zone = zone
        self.zone_instance = zone_instance
        self.sender = Sender(source, f"z-{zone}")
        self.receiver = Receiver(sink)
        self.applied_version = applied_version
        self.environment = environment
        self.welcome: dict | None = None

    def start(self, now: float) -> list[dict]:
        store_id, version = self.applied_version()
        return self._out([{"type": "hello", "zone": self.zone, "zone_instance": self.zone_instance,
                           "applied_version": version, "store_id": store_id,
                           "max_frame_bytes": self.timing.max_frame_bytes, "protocol": PROTOCOL_VERSION,
                           "environment": self.environment}], now)

    def receive(self, msg: dict, now: float) -> list[dict]:
        self.last_received = now
        if self.welcome is None:
            if msg["type"] == "error":
                raise ProtocolError(f"global refused the session: {msg['message']}")
            if msg["type"] != "welcome":
                raise ProtocolError(f"expected welcome first, got {msg['type']!r}")
            self.welcome = msg
            self.sender.max_frame_bytes = min(self.timing.max_frame_bytes, msg["max_frame_bytes"])
            # Upstream always starts with a full snapshot: global reconciles it.
            return self._out(self.sender.next_frames(now), now)
        if msg["type"] in ("hello", "welcome"):
            raise ProtocolError(f"unexpected {msg['type']} frame in an open session")
        out = self._common(msg, now)
        return self._out(out or [], now)


__all__ = [
    "Timing", "Sender", "Receiver", "GlobalSession", "ZoneSession", "ProtocolError", "KindStats",
]
