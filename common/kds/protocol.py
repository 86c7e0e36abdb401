"""The KDS session machines, sans-I/O: data in, events out.

A session is fed decoded frames (`receive`), clock readings (`tick`) and the
application's answers (`accept`, `send_batch`, `batch_applied`); each call
returns a list of events: frames to send, a batch to apply, an ACK or NACK
seen, the handshake, a failure. A session never touches a socket or a store
and never calls back into the application (compare h11, or the protocol
layer of `websockets`); common/kds/driver.py does the I/O.

Sending: when a session can send (the handshake is done and nothing is in
flight) it emits `NeedBatch(since)`; the application reads its store and
hands the data in with `send_batch`. `since` None means the peer needs a
full snapshot.

Receiving: the last frame of a batch yields `BatchReceived`; the application
applies it and answers `batch_applied(nonce, rejected)`, which yields the ACK,
or a partial NACK when some resources were rejected.

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
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import duration_field
from ..resources import Resource
from .messages import (
    CLOSE_PROTOCOL,
    CLOSE_REFUSED,
    CLOSE_SILENT,
    PROTOCOL_VERSION,
    Batch,
    FrameError,
    Reassembler,
    chunk,
    resource_label,
)

Removal = tuple[str, str | None, str]


@dataclass
class Timing:
    """KDS timing; both processes' `kds:` configuration sections extend it."""

    heartbeat_interval: float = duration_field(1.0, "send a heartbeat after this much silence")
    liveness_timeout: float = duration_field(5.0, "end a session after this long without a frame from the peer")
    ack_timeout: float = duration_field(30.0, "end a session whose batch stays unacknowledged this long")
    max_frame_bytes: int = 4 * 1024 * 1024
    max_batch_parts: int = 1000  # frames in one received batch
    max_batch_bytes: int = 64 * 1024 * 1024  # one received batch in all: what a session holds while reassembling


class ProtocolError(Exception):
    """The peer broke the protocol or went silent; the transport closes with `code` (4xxx) and the reason."""

    def __init__(self, reason: str, code: int = CLOSE_PROTOCOL):
        super().__init__(reason)
        self.code = code


# -- events ------------------------------------------------------------------
class Event:
    """Something a session reports to its driver."""


@dataclass(frozen=True)
class SendFrames(Event):
    frames: list[dict]


@dataclass(frozen=True)
class NeedBatch(Event):
    """Ready to send: answer with send_batch, the changes since `since` (None: a full snapshot)."""

    since: int | None


@dataclass(frozen=True)
class BatchReceived(Event):
    """A whole batch from the peer: apply it, then answer batch_applied(batch.nonce, rejected)."""

    batch: Batch


@dataclass(frozen=True)
class BatchAcked(Event):
    nonce: str
    version: int


@dataclass(frozen=True)
class BatchNacked(Event):
    nonce: str
    version: int
    error: str
    rejected: list[str]


@dataclass(frozen=True)
class Refused(Event):
    """A resource too large for one frame: left out of the batch, to be logged."""

    resource: str
    reason: str


@dataclass(frozen=True)
class HelloReceived(Event):
    """Global's side: the zone said hello; answer with accept(store_id, revision)."""

    hello: dict


@dataclass(frozen=True)
class Welcomed(Event):
    """The zone's side: global accepted the session."""

    welcome: dict


@dataclass(frozen=True)
class SessionFailed(Event):
    """The session is over (the peer broke the protocol or refused it); close the connection with `code`."""

    reason: str
    code: int = CLOSE_PROTOCOL


@dataclass(frozen=True)
class PeerSilent(SessionFailed):
    """No frame within the liveness timeout, or no answer within the ack timeout."""

    code: int = CLOSE_SILENT


# -- status --------------------------------------------------------------------
@dataclass(frozen=True)
class KindStats:
    sent: int = 0
    acked: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class SessionStatus:
    """A snapshot of one session, for status pages; later changes do not show in it."""

    acked_version: int | None  # None: the peer needs a full snapshot
    acked_at: float | None  # clock time of the last ACK/NACK
    in_flight: str | None  # the nonce of the unanswered batch
    nacks: int
    last_nack: str
    rejected: Mapping[str, str]  # resource label -> why the peer refuses it (until it accepts it, or it goes)
    stats: Mapping[str, KindStats]
    protocol_errors: int
    last_protocol_error: str
    peer_errors: tuple[str, ...]  # the last error frames the peer sent
    last_received: float  # clock time of the last frame from the peer
    batches_applied: int
    last_receive_error: str  # the rejections of the last NACK we sent
    hello: Mapping[str, Any] | None  # the handshake frames, sent or received
    welcome: Mapping[str, Any] | None


# -- the two directions ----------------------------------------------------------
def _kind_counts(batch: Batch) -> Counter[str]:
    c = Counter(r.kind for r in batch.upserts)
    c.update(k for k, _, _ in batch.removals)
    return c


class _Sender:
    """Our outgoing direction, with one batch in flight."""

    def __init__(self, nonce_prefix: str, max_frame_bytes: int):
        self.acked_version: int | None = None
        self.in_flight: Batch | None = None
        self.in_flight_since = 0.0
        self.max_frame_bytes = max_frame_bytes
        self._nonces = (f"{nonce_prefix}-{i}" for i in itertools.count(1))
        self.stats: dict[str, KindStats] = {}
        self.last_nack = ""
        self.nacks = 0
        self.acked_at: float | None = None
        self.rejected: dict[str, str] = {}
        self._refused: dict[str, str] = {}  # of the batch in flight: too large to send

    def need(self) -> NeedBatch | None:
        return None if self.in_flight is not None else NeedBatch(self.acked_version)

    def send(self, upserts: list[Resource], removals: list[Removal], version: int, full: bool,
             now: float) -> tuple[list[dict], list[Event]]:
        if self.in_flight is not None:
            raise RuntimeError(f"batch {self.in_flight.nonce} is still in flight")
        if not full and self.acked_version is None:
            raise ValueError("the peer needs a full snapshot, not a delta")
        if not full and not upserts and not removals:
            # Only kinds the peer does not get changed; nothing to send.
            self.acked_version = version
            return [], []
        batch = Batch(next(self._nonces), full=full, upserts=list(upserts), removals=list(removals), version=version)
        frames, refused = chunk(batch, self.max_frame_bytes)
        self.in_flight, self.in_flight_since = batch, now
        self._refused = {label: f"{label}: not sent: {reason}" for label, reason in refused}
        for kind, n in _kind_counts(batch).items():
            st = self.stats.get(kind, KindStats())
            self.stats[kind] = KindStats(st.sent + n, st.acked, st.rejected)
        return frames, [Refused(label, reason) for label, reason in refused]

    def on_response(self, nonce: str, error: str | None, rejected: Iterable[str], now: float) -> list[Event]:
        """ACK (error None) or NACK; a stale nonce is ignored."""
        batch = self.in_flight
        if batch is None or nonce != batch.nonce:
            return []
        self.in_flight = None
        self.acked_version = batch.version
        self.acked_at = now
        reasons = [str(r) for r in rejected]
        self._track_rejected(batch, reasons if error else [])
        self.rejected.update(self._refused)  # never sent, so never in sync
        self._refused = {}
        rejected_kinds = Counter(r.split(" ", 1)[0] for r in reasons)
        for kind, n in _kind_counts(batch).items():
            st = self.stats.get(kind, KindStats())
            bad = min(n, rejected_kinds.get(kind, 0)) if error else 0
            self.stats[kind] = KindStats(st.sent, st.acked + n - bad, st.rejected + bad)
        if error:
            self.nacks += 1
            self.last_nack = error
            return [BatchNacked(nonce, batch.version, error, reasons)]
        return [BatchAcked(nonce, batch.version)]

    def _track_rejected(self, batch: Batch, reasons: list[str]) -> None:
        """What the peer refuses now: a resource stays refused until a batch
        carries it again (or its removal) and the peer takes it. Reasons are
        '<Kind> <mesh/>name: why', as check_batch words them."""
        if batch.full:
            self.rejected.clear()
        else:
            for r in batch.upserts:
                self.rejected.pop(resource_label(r.kind, r.mesh, r.name), None)
            for kind, mesh, name in batch.removals:
                self.rejected.pop(resource_label(kind, mesh, name), None)
        for reason in reasons:
            self.rejected[reason.split(": ", 1)[0]] = reason

    def overdue(self, now: float, ack_timeout: float) -> bool:
        return self.in_flight is not None and now - self.in_flight_since > ack_timeout


class _Receiver:
    """The peer's direction: reassembles batches and answers them once applied."""

    def __init__(self, timing: Timing) -> None:
        self.reassembler = Reassembler(timing.max_batch_parts, timing.max_batch_bytes)
        self.pending: dict[str, int] = {}  # nonce -> version, received but not yet answered
        self.applied_batches = 0
        self.last_error = ""

    def on_frame(self, frame: dict) -> Batch | None:
        batch = self.reassembler.add(frame)
        if batch is not None:
            self.pending[batch.nonce] = batch.version
        return batch

    def answer(self, nonce: str, rejected: Sequence[str]) -> dict:
        if nonce not in self.pending:
            raise ValueError(f"no received batch {nonce} awaits an answer")
        version = self.pending.pop(nonce)
        self.applied_batches += 1
        if rejected:
            self.last_error = "; ".join(rejected)
            return {"type": "nack", "nonce": nonce, "error": self.last_error, "rejected": list(rejected),
                    "version": version}
        return {"type": "ack", "nonce": nonce, "version": version}


# -- sessions --------------------------------------------------------------------
class Session:
    """What both ends share; GlobalSession and ZoneSession add the handshake."""

    def __init__(self, timing: Timing, nonce_prefix: str, now: float):
        self.timing = timing
        self._sender = _Sender(nonce_prefix, timing.max_frame_bytes)
        self._receiver = _Receiver(timing)
        self._last_received = now
        self._last_sent = now
        self._protocol_errors = 0
        self._last_protocol_error = ""
        self._peer_errors: list[str] = []
        self._hello: dict | None = None
        self._welcome: dict | None = None
        self._failed: str | None = None

    # -- what the application calls --
    def receive(self, msg: dict, now: float) -> list[Event]:
        """A decoded frame from the peer."""
        raise NotImplementedError

    def tick(self, now: float) -> list[Event]:
        """Heartbeats and liveness."""
        if self._failed is not None:
            return []
        silent = now - self._last_received
        if silent > self.timing.liveness_timeout:
            return self._fail(PeerSilent(f"no frame from peer for {silent:.1f}s (liveness timeout "
                                         f"{self.timing.liveness_timeout:g}s)"))
        if self._sender.in_flight is not None and self._sender.overdue(now, self.timing.ack_timeout):
            return self._fail(PeerSilent(f"batch {self._sender.in_flight.nonce} not acknowledged within "
                                         f"{self.timing.ack_timeout:g}s"))
        if now - self._last_sent >= self.timing.heartbeat_interval:
            return self._out([{"type": "heartbeat"}], now)
        return []

    def need_batch(self) -> NeedBatch | None:
        """NeedBatch when this side may send now (handshake done, nothing in flight), else None."""
        if self._failed is not None or self._welcome is None:
            return None
        return self._sender.need()

    def send_batch(self, upserts: list[Resource], removals: list[Removal], version: int, full: bool,
                   now: float) -> list[Event]:
        """Send the answer to NeedBatch: the store brought to `version` (everything when `full`)."""
        frames, refused = self._sender.send(upserts, removals, version, full, now)
        return [*refused, *self._out(frames, now)]

    def batch_applied(self, nonce: str, rejected: Sequence[str], now: float) -> list[Event]:
        """The batch from BatchReceived is applied, except the `rejected` ('<Kind> <name>: why')."""
        return self._out([self._receiver.answer(nonce, rejected)], now)

    def bad_frame(self, err: FrameError, now: float) -> list[Event]:
        """A frame could not be decoded: say why to the peer, then end the session with err.code."""
        if self._failed is not None:
            return []
        self._last_received = now
        self._protocol_errors += 1
        self._last_protocol_error = str(err)
        reply = self._out([{"type": "error", "message": str(err)}], now)
        return reply + self._fail(SessionFailed(str(err), err.code))

    def status(self) -> SessionStatus:
        s, r = self._sender, self._receiver
        return SessionStatus(
            acked_version=s.acked_version, acked_at=s.acked_at,
            in_flight=s.in_flight.nonce if s.in_flight else None,
            nacks=s.nacks, last_nack=s.last_nack, rejected=dict(s.rejected), stats=dict(s.stats),
            protocol_errors=self._protocol_errors, last_protocol_error=self._last_protocol_error,
            peer_errors=tuple(self._peer_errors), last_received=self._last_received,
            batches_applied=r.applied_batches, last_receive_error=r.last_error,
            hello=dict(self._hello) if self._hello else None,
            welcome=dict(self._welcome) if self._welcome else None,
        )

    # -- shared frame handling --
    def _out(self, frames: list[dict], now: float) -> list[Event]:
        if not frames:
            return []
        self._last_sent = now
        return [SendFrames(frames)]

    def _fail(self, event: SessionFailed) -> list[Event]:
        self._failed = event.reason
        return [event]

    def _need(self) -> list[Event]:
        need = self.need_batch()
        return [need] if need else []

    def _open_session_frame(self, msg: dict, now: float) -> list[Event]:
        mtype = msg["type"]
        if mtype in ("hello", "welcome"):
            return self._fail(SessionFailed(f"unexpected {mtype} frame in an open session", CLOSE_PROTOCOL))
        if mtype == "error":
            self._peer_errors = (self._peer_errors + [msg["message"]])[-10:]
        elif mtype in ("ack", "nack"):
            rejected = msg.get("rejected") if isinstance(msg.get("rejected"), list) else []
            error = msg.get("error") if mtype == "nack" else None
            return self._sender.on_response(msg["nonce"], error, rejected or [], now) + self._need()
        elif mtype == "resources":
            try:
                batch = self._receiver.on_frame(msg)
            except FrameError as e:
                self._protocol_errors += 1
                self._last_protocol_error = str(e)
                return self._fail(SessionFailed(str(e), e.code))
            return [BatchReceived(batch)] if batch else []
        return []  # heartbeat


class GlobalSession(Session):
    """Global's side of one zone connection. `zone` is the authenticated name."""

    def __init__(self, zone: str, global_instance: str, timing: Timing, now: float):
        super().__init__(timing, f"g-{zone}", now)
        self.zone = zone
        self.global_instance = global_instance

    def receive(self, msg: dict, now: float) -> list[Event]:
        if self._failed is not None:
            return []
        self._last_received = now
        if self._hello is not None:
            return self._open_session_frame(msg, now)
        if msg["type"] != "hello":
            return self._fail(SessionFailed(f"expected hello first, got {msg['type']!r}"))
        if msg["zone"] != self.zone:
            return self._fail(SessionFailed(f"hello names zone {msg['zone']!r} but the token is for {self.zone!r}",
                                            CLOSE_REFUSED))
        self._hello = msg
        self._sender.max_frame_bytes = min(self.timing.max_frame_bytes, msg["max_frame_bytes"])
        return [HelloReceived(msg)]

    def accept(self, store_id: str, revision: int, now: float) -> list[Event]:
        """Answer the hello with the welcome; `store_id` and `revision` are global's store's now."""
        if self._hello is None or self._welcome is not None:
            raise RuntimeError("accept answers one hello")
        applied = self._hello["applied_version"]
        # Resume with a delta only from a revision of *this* store that exists.
        if self._hello["store_id"] == store_id and 0 < applied <= revision:
            self._sender.acked_version = applied
        self._welcome = {"type": "welcome", "global_instance": self.global_instance, "store_id": store_id,
                         "version": revision, "max_frame_bytes": self.timing.max_frame_bytes,
                         "protocol": PROTOCOL_VERSION}
        return self._out([self._welcome], now) + self._need()


class ZoneSession(Session):
    """The zone's side of its connection to global."""

    def __init__(self, zone: str, zone_instance: str, timing: Timing, now: float, *, environment: str = "universal"):
        super().__init__(timing, f"z-{zone}", now)
        self.zone = zone
        self.zone_instance = zone_instance
        self.environment = environment

    def start(self, store_id: str, applied_version: int, now: float) -> list[Event]:
        """The hello: the global store id and revision this zone last applied."""
        self._hello = {"type": "hello", "zone": self.zone, "zone_instance": self.zone_instance,
                       "applied_version": applied_version, "store_id": store_id,
                       "max_frame_bytes": self.timing.max_frame_bytes, "protocol": PROTOCOL_VERSION,
                       "environment": self.environment}
        return self._out([self._hello], now)

    def receive(self, msg: dict, now: float) -> list[Event]:
        if self._failed is not None:
            return []
        self._last_received = now
        if self._welcome is not None:
            return self._open_session_frame(msg, now)
        if msg["type"] == "error":
            return self._fail(SessionFailed(f"global refused the session: {msg['message']}", CLOSE_REFUSED))
        if msg["type"] != "welcome":
            return self._fail(SessionFailed(f"expected welcome first, got {msg['type']!r}"))
        self._welcome = msg
        self._sender.max_frame_bytes = min(self.timing.max_frame_bytes, msg["max_frame_bytes"])
        # Upstream always starts with a full snapshot: global reconciles it.
        return [Welcomed(msg), *self._need()]

