"""Kubernetes protobuf request bodies, decoded to the JSON form: kubectl sends
built-in kinds (`create namespace`, `create secret`, `auth can-i`) as
`application/vnd.kubernetes.protobuf`, and client-go does not fall back to
JSON. Only the kinds a client may send here are known; answers stay JSON,
which clients accept."""
from __future__ import annotations

import base64
from typing import Any

MAGIC = b"k8s\x00"

# field number -> (JSON name, type); a type is "string", "bytes", "int", "bool",
# a nested message (dict), ("map", value type) or ("list", item type).
Message = dict[int, tuple[str, Any]]

OBJECT_META: Message = {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
                        5: ("uid", "string"), 6: ("resourceVersion", "string"), 7: ("generation", "int"),
                        11: ("labels", ("map", "string")), 12: ("annotations", ("map", "string")),
                        14: ("finalizers", ("list", "string"))}
KINDS: dict[str, Message] = {
    "Namespace": {1: ("metadata", OBJECT_META), 2: ("spec", {1: ("finalizers", ("list", "string"))}),
                  3: ("status", {1: ("phase", "string")})},
    "Secret": {1: ("metadata", OBJECT_META), 2: ("data", ("map", "bytes")), 3: ("type", "string"),
               4: ("stringData", ("map", "string")), 5: ("immutable", "bool")},
    "SelfSubjectAccessReview": {1: ("metadata", OBJECT_META), 2: ("spec", {
        1: ("resourceAttributes", {1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"),
                                   4: ("version", "string"), 5: ("resource", "string"),
                                   6: ("subresource", "string"), 7: ("name", "string")}),
        2: ("nonResourceAttributes", {1: ("path", "string"), 2: ("verb", "string")})})},
}
UNKNOWN: Message = {1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}), 2: ("raw", "bytes"),
                    3: ("contentEncoding", "string"), 4: ("contentType", "string")}


class ProtoError(ValueError):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ProtoError("truncated varint")
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes):
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ProtoError("truncated field")
            value, i = buf[i:i + n], i + n
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, i = buf[i:i + width], i + width
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        yield num, wire, value


def _scalar(kind: Any, value: Any) -> Any:
    if isinstance(kind, dict):
        return decode_message(value, kind)
    if kind == "string":
        return value.decode()
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "bool":
        return bool(value)
    return value  # int


def decode_message(buf: bytes, schema: Message) -> dict:
    out: dict[str, Any] = {}
    for num, _wire, value in _fields(buf):
        if num not in schema:
            continue  # a field not needed here (e.g. creationTimestamp)
        name, kind = schema[num]
        if isinstance(kind, tuple) and kind[0] == "map":
            entry = {n: v for n, _w, v in _fields(value)}
            out.setdefault(name, {})[entry.get(1, b"").decode()] = _scalar(kind[1], entry.get(2, b""))
        elif isinstance(kind, tuple):
            out.setdefault(name, []).append(_scalar(kind[1], value))
        elif value or isinstance(kind, dict):  # gogo writes empty strings and zeros: JSON omits them
            out[name] = _scalar(kind, value)
    return out


def decode(body: bytes) -> dict:
    """A `k8s\\0`-framed runtime.Unknown holding one of KINDS, as JSON."""
    if not body.startswith(MAGIC):
        raise ProtoError("not a Kubernetes protobuf body (no k8s\\0 prefix)")
    envelope = decode_message(body[len(MAGIC):], UNKNOWN)
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in KINDS:
        raise ProtoError(f"kind {kind!r} cannot be sent as protobuf here; send it as application/json")
    if envelope.get("contentEncoding"):
        raise ProtoError(f"content encoding {envelope['contentEncoding']!r} is not supported")
    obj = decode_message(base64.b64decode(envelope.get("raw", "")), KINDS[kind])
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}
