"""KDS frames: JSON objects with a "type". Decoding never raises anything but
FrameError, whose message is sent back to the peer and logged.

Frames are kept under the peer's announced size limit by chunking resource
batches (`part`/`parts`); a single resource too large for a frame is refused
locally instead of being sent, so an oversized message can never cause a
reconnect loop (unlike Kuma #18127)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..bounded import loads_json
from ..errors import BadRequest
from ..resources import KINDS, Resource

PROTOCOL_VERSION = 1

# type -> required fields and their JSON types
_SCHEMA: dict[str, dict[str, type | tuple]] = {
    "hello": {"zone": str, "zone_instance": str, "applied_version": int, "store_id": str, "max_frame_bytes": int},
    "welcome": {"global_instance": str, "store_id": str, "version": int, "max_frame_bytes": int},
    "resources": {"nonce": str, "part": int, "parts": int, "full": bool, "upserts": list, "removals": list},
    "ack": {"nonce": str},
    "nack": {"nonce": str, "error": str},
    "heartbeat": {},
    "error": {"message": str},
}
MESSAGE_TYPES = frozenset(_SCHEMA)


# Close codes (the 4000-4999 range is the application's): every failed session ends with one and a reason.
CLOSE_BAD_FRAME = 4400  # a frame that cannot be decoded or breaks the schema
CLOSE_PROTOCOL = 4409  # a well-formed frame out of place (a second hello, parts out of order)
CLOSE_TOO_LARGE = 4413  # a batch over the parts or size limits
CLOSE_SILENT = 4408  # no frame within the liveness timeout, or no ack within the ack timeout
CLOSE_REFUSED = 4403  # the handshake was refused
CLOSE_INTERNAL = 4500  # a frame this side could not handle; a bug, logged once

MAX_NONCE = 128
MAX_ERROR = 64 * 1024


class FrameError(ValueError):
    def __init__(self, message: str, code: int = CLOSE_BAD_FRAME):
        super().__init__(message)
        self.code = code


def resource_label(kind: str, mesh: str | None, name: str) -> str:
    """How rejections name a resource: '<Kind> <mesh/>name'."""
    return f"{kind} {mesh + '/' if mesh else ''}{name}"


def encode(msg: dict) -> str:
    return json.dumps(msg, separators=(",", ":"))


def decode(data: str | bytes) -> dict:
    """One frame, within common/bounded's limits; `_bytes` records its size for the reassembler."""
    try:
        msg = loads_json(data, "frame")
    except BadRequest as e:
        raise FrameError(f"malformed {e.details}") from None
    if not isinstance(msg, dict):
        raise FrameError("malformed frame: expected a JSON object")
    check(msg)
    if msg["type"] == "resources":
        msg["_bytes"] = len(data)
    return msg


def check(msg: dict) -> None:
    """The frame's shape; FrameError naming the field otherwise."""
    mtype = msg.get("type")
    if not isinstance(mtype, str) or mtype not in _SCHEMA:
        raise FrameError(f"unknown frame type {str(mtype)[:40]!r}; known: {', '.join(sorted(MESSAGE_TYPES))}")
    for name, typ in _SCHEMA[mtype].items():
        value = msg.get(name)
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise FrameError(f"malformed {mtype} frame: field {name!r} must be {getattr(typ, '__name__', typ)}")
    for name in ("nonce", "zone", "zone_instance", "store_id", "global_instance"):
        if name in _SCHEMA[mtype] and len(msg[name]) > MAX_NONCE:
            raise FrameError(f"malformed {mtype} frame: field {name!r} is longer than {MAX_NONCE} characters")
    for name in ("error", "message"):
        if name in _SCHEMA[mtype] and len(msg[name]) > MAX_ERROR:
            raise FrameError(f"malformed {mtype} frame: field {name!r} is longer than {MAX_ERROR} characters")
    version = msg.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 0):
        raise FrameError(f"malformed {mtype} frame: field 'version' must be a non-negative integer")
    if mtype == "nack" and "rejected" in msg and not (
            isinstance(msg["rejected"], list) and all(isinstance(r, str) for r in msg["rejected"])):
        raise FrameError("malformed nack frame: field 'rejected' must be a list of strings")
    if mtype == "resources":
        if not (1 <= msg["part"] <= msg["parts"]):
            raise FrameError("malformed resources frame: part must be within 1..parts")
        for i, up in enumerate(msg["upserts"]):
            if not (isinstance(up, dict) and isinstance(up.get("kind"), str) and up["kind"] in KINDS
                    and isinstance(up.get("name"), str) and up["name"]
                    and isinstance(up.get("mesh"), (str, type(None)))
                    and isinstance(up.get("spec", {}), (dict, type(None)))
                    and isinstance(up.get("meta", {}), (dict, type(None)))):
                raise FrameError(f"malformed resources frame: upserts[{i}] must be an object with a known kind, "
                                 "a name, a string mesh and an object spec")
        for i, rm in enumerate(msg["removals"]):
            if not (isinstance(rm, list) and len(rm) == 3 and isinstance(rm[0], str) and rm[0] in KINDS
                    and isinstance(rm[1], (str, type(None))) and isinstance(rm[2], str)):
                raise FrameError(f"malformed resources frame: removals[{i}] must be [kind, mesh or null, name]")


@dataclass
class Batch:
    """A set of changes, sent as one or more frames sharing a nonce."""

    nonce: str
    full: bool
    upserts: list[Resource] = field(default_factory=list)
    removals: list[tuple[str, str | None, str]] = field(default_factory=list)
    version: int = 0  # the sender's store revision this batch brings the peer to


def _size(obj: dict | list) -> int:
    return len(json.dumps(obj, separators=(",", ":")).encode())


def chunk(batch: Batch, max_frame_bytes: int) -> tuple[list[dict], list[tuple[str, str]]]:
    """Split a batch into frames no larger than max_frame_bytes. Also returns
    the resources left out because one alone exceeds the limit, as (label, reason)."""
    refused: list[tuple[str, str]] = []
    overhead = 512  # envelope fields, generously
    budget = max(1024, max_frame_bytes - overhead)
    parts: list[tuple[list, list]] = [([], [])]
    used = 0
    for r in batch.upserts:
        w = r.to_wire()
        size = _size(w) + 1
        if size > budget:
            refused.append((f"{r.kind} {r.mesh + '/' if r.mesh else ''}{r.name}",
                            f"{size} bytes exceeds the {max_frame_bytes}-byte frame limit"))
            continue
        if used + size > budget and (parts[-1][0] or parts[-1][1]):
            parts.append(([], []))
            used = 0
        parts[-1][0].append(w)
        used += size
    for rm in batch.removals:
        removal = list(rm)
        size = _size(removal) + 1
        if used + size > budget and (parts[-1][0] or parts[-1][1]):
            parts.append(([], []))
            used = 0
        parts[-1][1].append(removal)
        used += size
    n = len(parts)
    frames = [
        {"type": "resources", "nonce": batch.nonce, "part": i + 1, "parts": n, "full": batch.full,
         "version": batch.version, "upserts": ups, "removals": rms}
        for i, (ups, rms) in enumerate(parts)
    ]
    return frames, refused


class Reassembler:
    """Collects the frames of one batch; returns the Batch at its last part.

    It holds one batch at a time, of at most `max_parts` frames and `max_bytes`
    in all: that bounds what a session keeps in memory."""

    def __init__(self, max_parts: int = 1000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_parts = max_parts
        self.max_bytes = max_bytes
        self._nonce: str | None = None
        self._frames: list[dict] = []
        self._bytes = 0

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def _reset(self) -> None:
        self._nonce, self._frames, self._bytes = None, [], 0

    def add(self, frame: dict) -> Batch | None:
        if frame["parts"] > self.max_parts:
            self._reset()
            raise FrameError(f"resources frame announces {frame['parts']} parts; at most {self.max_parts} "
                             "are accepted (kds.max_batch_parts)", CLOSE_TOO_LARGE)
        if frame["part"] == 1:
            self._reset()
            self._nonce = frame["nonce"]
        elif (frame["nonce"] != self._nonce or frame["part"] != len(self._frames) + 1
              or frame["parts"] != self._frames[0]["parts"] or frame["full"] != self._frames[0]["full"]):
            self._reset()
            raise FrameError(f"out-of-order resources frame (nonce {frame['nonce']}, part {frame['part']})",
                             CLOSE_PROTOCOL)
        size = frame.get("_bytes")
        self._bytes += size if isinstance(size, int) else _size(frame)
        if self._bytes > self.max_bytes:
            self._reset()
            raise FrameError(f"resources batch {frame['nonce']} exceeds {self.max_bytes} bytes "
                             "(kds.max_batch_bytes)", CLOSE_TOO_LARGE)
        self._frames.append(frame)
        if frame["part"] < frame["parts"]:
            return None
        frames = self._frames
        self._reset()
        version = frame.get("version")
        batch = Batch(nonce=frame["nonce"], full=frame["full"], version=version if isinstance(version, int) else 0)
        for f in frames:
            for w in f["upserts"]:
                try:
                    batch.upserts.append(Resource.from_wire(w))
                except BadRequest as e:
                    raise FrameError(f"malformed resources frame: {e}") from None
            for kind, mesh, name in f["removals"]:
                batch.removals.append((kind, mesh, name))
        return batch
