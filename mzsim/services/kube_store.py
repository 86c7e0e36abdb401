"""The object store behind mzsim's local Kubernetes API: resourceVersions from
one counter, generateName, label and field selectors, an event history for
watches (with 410 Gone past it), merge patches, and optimistic concurrency."""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import os
import secrets
import uuid
from collections import deque
from dataclasses import dataclass

HISTORY = 10_000  # watch events kept; older resourceVersions get 410 Gone


class KubeError(Exception):
    """Rendered as a Kubernetes Status body."""

    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> dict:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}


@dataclass(frozen=True)
class Kind:
    group: str  # "" for core
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def what(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


KINDS = {k.plural: k for k in [
    Kind("", "v1", "namespaces", "Namespace", False),
    Kind("", "v1", "secrets", "Secret", True),
    Kind("cert-manager.io", "v1", "certificaterequests", "CertificateRequest", True),
    Kind("cert-manager.io", "v1", "issuers", "Issuer", True),
    Kind("cert-manager.io", "v1", "clusterissuers", "ClusterIssuer", False),
]}


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def parse_label_selector(text: str):
    """Equality-based selectors: a=b, a==b, a!=b, a (exists), !a (absent)."""
    tests = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        if "!=" in part:
            k, v = part.split("!=", 1)
            tests.append(lambda labels, k=k.strip(), v=v.strip(): labels.get(k) != v)
        elif "=" in part:
            k, v = part.replace("==", "=").split("=", 1)
            tests.append(lambda labels, k=k.strip(), v=v.strip(): labels.get(k) == v)
        elif part.startswith("!"):
            tests.append(lambda labels, k=part[1:].strip(): k not in labels)
        else:
            tests.append(lambda labels, k=part: k in labels)
    return lambda obj: all(t((obj.get("metadata") or {}).get("labels") or {}) for t in tests)


def parse_field_selector(text: str):
    tests = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        neg = "!=" in part
        k, v = part.replace("!=", "=").replace("==", "=").split("=", 1)
        path = k.strip().split(".")

        def get(obj, path=path):
            for p in path:
                obj = (obj or {}).get(p) if isinstance(obj, dict) else None
            return obj

        tests.append(lambda obj, get=get, v=v.strip(), neg=neg: (get(obj) != v) if neg else (get(obj) == v))
    return lambda obj: all(t(obj) for t in tests)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeStore:
    def __init__(self, data_file: str | None = None, history: int = HISTORY):
        self.objects: dict[tuple[str, str, str], dict] = {}  # (plural, namespace, name) -> object
        self.rv = 0
        self.events: deque = deque(maxlen=history)  # (rv, type, plural, namespace, object)
        self.changed = asyncio.Condition()
        self.data_file = data_file
        if data_file and os.path.exists(data_file):
            with open(data_file) as f:
                saved = json.load(f)
            self.rv = saved["rv"]
            for o in saved["objects"]:
                self.objects[(o["plural"], o["namespace"], o["name"])] = o["object"]

    def _save(self) -> None:
        if not self.data_file:
            return
        tmp = self.data_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"rv": self.rv, "objects": [
                {"plural": p, "namespace": ns, "name": n, "object": o} for (p, ns, n), o in self.objects.items()]}, f)
        os.replace(tmp, self.data_file)

    @property
    def oldest_rv(self) -> int:
        return self.events[0][0] if self.events else self.rv

    async def _record(self, etype: str, kind: Kind, ns: str, obj: dict) -> None:
        self.events.append((int(obj["metadata"]["resourceVersion"]), etype, kind.plural, ns, copy.deepcopy(obj)))
        self._save()
        async with self.changed:
            self.changed.notify_all()

    def _bump(self, obj: dict) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def get(self, kind: Kind, ns: str, name: str) -> dict:
        obj = self.objects.get((kind.plural, ns, name))
        if obj is None:
            raise KubeError(404, "NotFound", f'{kind.what} "{name}" not found')
        return obj

    def list(self, kind: Kind, ns: str | None, labels: str = "", fields: str = "") -> list[dict]:
        lsel, fsel = parse_label_selector(labels), parse_field_selector(fields)
        return [o for (p, n, _), o in sorted(self.objects.items())
                if p == kind.plural and (ns is None or n == ns) and lsel(o) and fsel(o)]

    async def create(self, kind: Kind, ns: str, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        if not md.get("name"):
            prefix = md.get("generateName")
            if not prefix:
                raise KubeError(422, "Invalid", f"{kind.kind} is invalid: metadata.name: Required value: "
                                "name or generateName is required")
            md["name"] = prefix + secrets.token_hex(3)[:5]
        if kind.namespaced:
            md["namespace"] = ns
        if (kind.plural, ns, md["name"]) in self.objects:
            raise KubeError(409, "AlreadyExists", f'{kind.what} "{md["name"]}" already exists')
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = _now()
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        self._bump(obj)
        self.objects[(kind.plural, ns, md["name"])] = obj
        await self._record("ADDED", kind, ns, obj)
        return obj

    async def replace(self, kind: Kind, ns: str, name: str, obj: dict, *, status_only: bool = False) -> dict:
        current = self.get(kind, ns, name)
        want_rv = (obj.get("metadata") or {}).get("resourceVersion")
        if want_rv and want_rv != current["metadata"]["resourceVersion"]:
            raise KubeError(409, "Conflict", f'Operation cannot be fulfilled on {kind.what} "{name}": the object '
                            "has been modified; please apply your changes to the latest version and try again")
        new = copy.deepcopy(current)
        if status_only:
            new["status"] = copy.deepcopy(obj.get("status") or {})
        else:
            status = new.get("status")
            new = copy.deepcopy(obj)
            new["metadata"] = {**current["metadata"], **{k: v for k, v in (obj.get("metadata") or {}).items()
                                                         if k in ("labels", "annotations")}}
            if status is not None:
                new["status"] = status
        return await self._store_update(kind, ns, name, new)

    async def patch(self, kind: Kind, ns: str, name: str, patch: dict, *, status_only: bool = False) -> dict:
        current = self.get(kind, ns, name)
        if status_only:
            patch = {"status": patch.get("status")} if "status" in patch else {}
        else:
            patch = {k: v for k, v in patch.items() if k != "status"}
        new = merge_patch(current, patch)
        new["metadata"] = {**current["metadata"], **{k: v for k, v in (new.get("metadata") or {}).items()
                                                     if k in ("labels", "annotations")}}
        return await self._store_update(kind, ns, name, new)

    async def _store_update(self, kind: Kind, ns: str, name: str, new: dict) -> dict:
        new["apiVersion"], new["kind"] = kind.api_version, kind.kind
        self._bump(new)
        self.objects[(kind.plural, ns, name)] = new
        await self._record("MODIFIED", kind, ns, new)
        return new

    async def delete(self, kind: Kind, ns: str, name: str) -> dict:
        obj = self.get(kind, ns, name)
        del self.objects[(kind.plural, ns, name)]
        obj = copy.deepcopy(obj)
        self._bump(obj)
        await self._record("DELETED", kind, ns, obj)
        return obj
