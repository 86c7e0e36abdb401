"""KDS frames: JSON objects with a "type". Decoding never raises anything but
FrameError, whose message is sent back to the peer and logged.

Frames are kept under the peer's announced size limit by chunking resource
batches (`part`/`parts`); a single resource too large for a frame is refused
locally instead of being sent, so an oversized message can never cause a
reconnect loop (unlike Kuma #18127)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import BadRequest
from ..resources import Resource

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


class FrameError(ValueError):
    pass


def resource_label(kind: str, mesh: str | None, name: str) -> str:
    """How rejections name a resource: '<Kind> <mesh/>name'."""
    return f"{kind} {mesh + '/' if mesh else ''}{name}"


def encode(msg: dict) -> str:
    return json.dumps(msg, separators=(",", ":"))


def decode(data: str | bytes) -> dict:
    try:
        msg = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise FrameError(f"malformed frame: not JSON ({e})") from None
    if not isinstance(msg, dict):
        raise FrameError("malformed frame: expected a JSON object")
    mtype = msg.get("type")
    if mtype not in _SCHEMA:
        raise FrameError(f"unknown frame type {mtype!r}; known: {', '.join(sorted(MESSAGE_TYPES))}")
    for name, typ in _SCHEMA[mtype].items():
        value = msg.get(name)
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise FrameError(f"malformed {mtype} frame: field {name!r} must be {getattr(typ, '__name__', typ)}")
    if mtype == "resources":
        if not (1 <= msg["part"] <= msg["parts"]):
            raise FrameError("malformed resources frame: part must be within 1..parts")
        for rm in msg["removals"]:
            if not (isinstance(rm, list) and len(rm) == 3):
                raise FrameError("malformed resources frame: a removal is [kind, mesh, name]")
    return msg


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
    """Collects the frames of one batch; returns the Batch at its last part."""

    def __init__(self) -> None:
        self._nonce: str | None = None
        self._frames: list[dict] = []

    def add(self, frame: dict) -> Batch | None:
        if frame["part"] == 1:
            self._nonce, self._frames = frame["nonce"], []
        elif frame["nonce"] != self._nonce or frame["part"] != len(self._frames) + 1:
            self._nonce, self._frames = None, []
            raise FrameError(f"out-of-order resources frame (nonce {frame['nonce']}, part {frame['part']})")
        self._frames.append(frame)
        if frame["part"] < frame["parts"]:
            return None
        frames, self._frames, self._nonce = self._frames, [], None
        batch = Batch(nonce=frame["nonce"], full=frame["full"], version=int(frame.get("version") or 0))
        for f in frames:
            for w in f["upserts"]:
                try:
                    batch.upserts.append(Resource.from_wire(w))
                except BadRequest as e:
                    raise FrameError(f"malformed resources frame: {e}") from None
            for kind, mesh, name in f["removals"]:
                batch.removals.append((kind, mesh, name))
        return batch
