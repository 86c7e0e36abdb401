"""The object store behind mzsim's local Kubernetes API: resourceVersions from
one counter, generateName, label and field selectors, an event history for
watches (with 410 Gone past it), merge patches, and optimistic concurrency."""
from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import os
import re
import secrets
import uuid
from collections import deque
from dataclasses import dataclass

from common.timefmt import now_text

from . import kube_schema

HISTORY = 10_000  # watch events kept; older resourceVersions get 410 Gone

# apimachinery's validation: names are RFC 1123 subdomains, label values are
# qualified names of at most 63 characters (empty allowed).
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # apiserver's SimpleNameGenerator alphabet


class KubeError(Exception):
    """Rendered as a Kubernetes Status body."""

    def __init__(self, code: int, reason: str, message: str, causes: list[dict] | None = None,
                 details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.causes, self.details = code, reason, message, causes, details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.causes or self.details:
            body["details"] = {**(self.details or {}), **({"causes": self.causes} if self.causes else {})}
        return body


@dataclass(frozen=True)
class Kind:
    group: str  # "" for core
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def what(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


CM = ("cert-manager",)
KINDS = {k.plural: k for k in [
    Kind("", "v1", "namespaces", "Namespace", False, "namespace", ("ns",)),
    Kind("", "v1", "secrets", "Secret", True, "secret"),
    Kind("", "v1", "events", "Event", True, "event", ("ev",)),
    Kind("cert-manager.io", "v1", "certificaterequests", "CertificateRequest", True, "certificaterequest",
         ("cr", "crs"), CM),
    Kind("cert-manager.io", "v1", "issuers", "Issuer", True, "issuer", (), CM),
    Kind("cert-manager.io", "v1", "clusterissuers", "ClusterIssuer", False, "clusterissuer", (), CM),
]}
EVENT_LIMIT = 1000  # Events kept (a real API server expires them after an hour); the oldest go first


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


def strategic_merge_patch(target, patch):
    """A strategic merge patch for the kinds served here, which have no lists
    with merge keys: a merge patch that honours `$patch: replace|delete` and
    `$deleteFromPrimitiveList/<field>`, and ignores the ordering directives
    (`$setElementOrder/<field>`, `$retainKeys`) kubectl adds."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(out.get(field), list) and isinstance(v, list):
                out[field] = [x for x in out[field] if x not in v]
        elif k.startswith("$"):
            continue
        elif v is None:
            out.pop(k, None)
        else:
            merged = strategic_merge_patch(out.get(k), v)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
    return out


def json_patch(target: dict, ops) -> dict:
    """RFC 6902 add/replace/remove/test on JSON pointers (no move/copy)."""
    if not isinstance(ops, list):
        raise KubeError(400, "BadRequest", "a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for i, op in enumerate(ops):
        kind, path = (op or {}).get("op"), (op or {}).get("path", "")
        keys = [k.replace("~1", "/").replace("~0", "~") for k in path.split("/")[1:]]
        if kind not in ("add", "replace", "remove", "test") or not keys:
            raise KubeError(422, "Invalid", f"JSON patch operation {i}: op {kind!r} on path {path!r} is not "
                            "supported; use add, replace, remove or test on a non-root path")
        parent = doc
        for k in keys[:-1]:
            parent = parent[int(k)] if isinstance(parent, list) else parent.get(k) if isinstance(parent, dict) else None
            if parent is None:
                raise KubeError(422, "Invalid", f"JSON patch operation {i}: path {path!r} does not exist")
        last = keys[-1]
        if isinstance(parent, list):
            idx = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(idx, op.get("value"))
            elif kind == "remove":
                parent.pop(idx)
            elif kind == "replace":
                parent[idx] = op.get("value")
            elif parent[idx] != op.get("value"):
                raise KubeError(422, "Invalid", f"JSON patch test failed at {path!r}")
            continue
        if kind in ("replace", "remove", "test") and last not in parent:
            raise KubeError(422, "Invalid", f"JSON patch operation {i}: path {path!r} does not exist")
        if kind == "remove":
            del parent[last]
        elif kind == "test":
            if parent[last] != op.get("value"):
                raise KubeError(422, "Invalid", f"JSON patch test failed at {path!r}")
        else:
            parent[last] = op.get("value")
    return doc


def validate_meta(kind: Kind, obj: dict) -> None:
    """422 Invalid for names and labels a real API server would refuse."""
    md = obj.get("metadata") or {}
    name = md.get("name", "")
    causes = []
    name_re, what, limit = ((_DNS_LABEL, "RFC 1123 label", 63) if kind.plural == "namespaces"
                            else (_SUBDOMAIN, "RFC 1123 subdomain", 253))
    if len(name) > limit or not name_re.fullmatch(name):
        causes.append(("metadata.name", name, f"a lowercase {what} must consist of lower case alphanumeric "
                       "characters, '-' or '.', and must start and end with an alphanumeric character"))
    for value in (md.get("labels") or {}).values():
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            causes.append(("metadata.labels", value, "a valid label must be an empty string or consist of "
                           "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                           "character, at most 63 characters"))
    if causes:
        text = ", ".join(f'{f}: Invalid value: "{v}": {m}' for f, v, m in causes)
        raise KubeError(422, "Invalid", f'{kind.kind}{"." + kind.group if kind.group else ""} "{name}" is invalid: '
                        f"{text}", [{"reason": "FieldValueInvalid", "message": f'Invalid value: "{v}": {m}',
                                     "field": f} for f, v, m in causes], {"name": name, "group": kind.group,
                                                                          "kind": kind.kind})


def check_schema(kind: Kind, obj: dict, validation: str, warnings: list[str] | None) -> dict:
    """`obj` checked against its kind's schema, undeclared fields pruned: 422
    for wrong types, missing required fields and unsupported values; for
    undeclared fields a 400 (fieldValidation=Strict), a warning (Warn) or
    nothing (Ignore), as kube-apiserver does."""
    pruned, errs = kube_schema.validate(kind.kind, obj)
    name = (obj.get("metadata") or {}).get("name", "")
    if errs.invalid:
        raise KubeError(422, "Invalid", f'{kind.kind}{"." + kind.group if kind.group else ""} "{name}" is invalid: '
                        + ", ".join(f"{f}: {m}" for f, m in errs.invalid),
                        [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in errs.invalid],
                        {"name": name, "group": kind.group, "kind": kind.kind})
    if errs.unknown:
        text = ", ".join(f'unknown field "{u}"' for u in errs.unknown)
        if validation == "Strict":
            raise KubeError(400, "BadRequest", f'{kind.kind} in version "{kind.version}" cannot be handled as a '
                            f"{kind.kind}: strict decoding error: {text}")
        if validation == "Warn" and warnings is not None:
            warnings.extend(f'unknown field "{u}"' for u in errs.unknown)
    if kind.kind == "Secret" and pruned.get("stringData"):  # as the API server: stringData is write-only
        data = dict(pruned.get("data") or {})
        for k, v in pruned.pop("stringData").items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        pruned["data"] = data
    pruned.pop("stringData", None)
    if kind.kind == "Secret":
        pruned.setdefault("type", "Opaque")
    return pruned


_SET_REQ = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_REQ_SPLIT = re.compile(r",(?![^(]*\))")  # commas outside "(a,b)"


def parse_label_selector(text: str):
    """Label selectors: a=b, a==b, a!=b, a (exists), !a (absent), a in (x,y), a notin (x,y)."""
    tests = []
    for part in filter(None, (p.strip() for p in _REQ_SPLIT.split(text or ""))):
        m = _SET_REQ.match(part)
        if m:
            k, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in":
                tests.append(lambda labels, k=k, vs=values: labels.get(k) in vs)
            else:
                tests.append(lambda labels, k=k, vs=values: labels.get(k) not in vs)
        elif "!=" in part:
            k, v = (s.strip() for s in part.split("!=", 1))
            tests.append(lambda labels, k=k, v=v: labels.get(k) != v)
        elif "=" in part:
            k, v = (s.strip() for s in part.replace("==", "=").split("=", 1))
            tests.append(lambda labels, k=k, v=v: labels.get(k) == v)
        elif part.startswith("!"):
            absent = part[1:].strip()
            tests.append(lambda labels, k=absent: k not in labels)
        elif " " in part or "(" in part:
            raise KubeError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        else:
            tests.append(lambda labels, k=part: k in labels)
    return lambda obj: all(t((obj.get("metadata") or {}).get("labels") or {}) for t in tests)


def parse_field_selector(text: str):
    tests = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        neg = "!=" in part
        k, v = (s.strip() for s in part.replace("!=", "=").replace("==", "=").split("=", 1))
        path = k.split(".")

        def get(obj, path=path):
            for p in path:
                obj = (obj or {}).get(p) if isinstance(obj, dict) else None
            return obj

        tests.append(lambda obj, get=get, v=v, neg=neg: (get(obj) != v) if neg else (get(obj) == v))
    return lambda obj: all(t(obj) for t in tests)


def _merge_parts(current: dict, wanted: dict, status_only: bool) -> dict:
    """What a write may change: the status subresource changes only status, the
    main resource everything but status; of metadata, only labels and annotations."""
    if status_only:
        new = copy.deepcopy(current)
        new["status"] = copy.deepcopy(wanted.get("status") or {})
        return new
    new = copy.deepcopy(wanted)
    new.pop("status", None)
    if "status" in current:
        new["status"] = copy.deepcopy(current["status"])
    meta = {k: v for k, v in current["metadata"].items() if k not in ("labels", "annotations")}
    meta.update({k: v for k, v in (wanted.get("metadata") or {}).items() if k in ("labels", "annotations") and v})
    new["metadata"] = copy.deepcopy(meta)
    return new


def write_private(path: str, text: str) -> None:
    """Mode 0600 (secrets, tokens), and atomically: a reader never sees half a file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class KubeStore:
    def __init__(self, data_file: str | None = None, history: int = HISTORY):
        self.objects: dict[tuple[str, str, str], dict] = {}  # (plural, namespace, name) -> object
        self.rv = 0
        self.events: deque = deque(maxlen=history)  # (rv, type, plural, namespace, object)
        # One wake-up per kind: a watch of CertificateRequests does not wake for
        # every Event the controller posts. kind_rv: the newest change per kind.
        self.changed: dict[str, asyncio.Condition] = {p: asyncio.Condition() for p in KINDS}
        self.kind_rv: dict[str, int] = {}
        self.data_file = data_file
        if data_file and os.path.exists(data_file):
            with open(data_file) as f:
                saved = json.load(f)
            self.rv = saved["rv"]
            for o in saved["objects"]:
                self.objects[(o["plural"], o["namespace"], o["name"])] = o["object"]
        self._event_keys: dict[tuple[str, str, str], None] = dict.fromkeys(sorted(
            (k for k in self.objects if k[0] == "events"),
            key=lambda k: int(self.objects[k]["metadata"]["resourceVersion"])))  # oldest first

    def _save(self) -> None:
        if not self.data_file:
            return
        write_private(self.data_file, json.dumps({"rv": self.rv, "objects": [
            {"plural": p, "namespace": ns, "name": n, "object": o} for (p, ns, n), o in self.objects.items()]}))

    @property
    def oldest_rv(self) -> int:
        return self.events[0][0] if self.events else self.rv + 1  # none kept (e.g. after a restart)

    def since(self, rv: int) -> list[tuple]:
        """Events after `rv`. Every change bumps the counter once and records one
        event, so the newest `self.rv - rv` events are exactly those: no scan of
        the whole history per wake-up (kmock's slowdown with age)."""
        n = self.rv - rv
        if n <= 0:
            return []
        return [e for e in reversed(list(itertools.islice(reversed(self.events), n))) if e[0] > rv]

    async def _record(self, etype: str, kind: Kind, ns: str, obj: dict) -> None:
        self.events.append((int(obj["metadata"]["resourceVersion"]), etype, kind.plural, ns, copy.deepcopy(obj)))
        self._save()
        self.kind_rv[kind.plural] = self.rv
        async with self.changed[kind.plural]:
            self.changed[kind.plural].notify_all()

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
        found = [(key, o) for key, o in self.objects.items() if key[0] == kind.plural and (ns is None or key[1] == ns)]
        return [o for _key, o in sorted(found, key=lambda item: item[0]) if lsel(o) and fsel(o)]

    async def create(self, kind: Kind, ns: str, obj: dict, *, validation: str = "Warn",
                     warnings: list[str] | None = None, dry_run: bool = False) -> dict:
        """With `dry_run` (dryRun=All) everything is checked and nothing is stored."""
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        if not md.get("name"):
            prefix = md.get("generateName")
            if not prefix:
                raise KubeError(422, "Invalid", f"{kind.kind} is invalid: metadata.name: Required value: "
                                "name or generateName is required")
            md["name"] = prefix[:58] + "".join(secrets.choice(_GENERATE_CHARS) for _ in range(5))
        if kind.namespaced:
            md["namespace"] = ns
            if ("namespaces", "", ns) not in self.objects:
                raise KubeError(404, "NotFound", f'namespaces "{ns}" not found')
        validate_meta(kind, obj)
        if (kind.plural, ns, md["name"]) in self.objects:
            raise KubeError(409, "AlreadyExists", f'{kind.what} "{md["name"]}" already exists')
        obj = check_schema(kind, obj, validation, warnings)
        md = obj["metadata"]
        for server_set in ("uid", "resourceVersion", "creationTimestamp"):
            md.pop(server_set, None)
        if kind.plural == "namespaces":
            obj["status"] = {"phase": "Active"}
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now_text()
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        if dry_run:
            return obj
        self._bump(obj)
        self.objects[(kind.plural, ns, md["name"])] = obj
        await self._record("ADDED", kind, ns, obj)
        if kind.plural == "events":
            self._event_keys[(kind.plural, ns, md["name"])] = None
            await self._expire_events()
        return obj

    async def _expire_events(self) -> None:
        """The oldest Events beyond EVENT_LIMIT go (kept in creation order: no sort per create)."""
        while len(self._event_keys) > EVENT_LIMIT:
            key = next(iter(self._event_keys))
            await self.delete(KINDS["events"], key[1], key[2])

    def _precondition(self, kind: Kind, current: dict, obj: dict) -> None:
        """A resourceVersion in the body (PUT, or a patch) must be the current one."""
        want_rv = (obj.get("metadata") or {}).get("resourceVersion")
        if want_rv and want_rv != current["metadata"]["resourceVersion"]:
            raise KubeError(409, "Conflict", f'Operation cannot be fulfilled on {kind.what} '
                            f'"{current["metadata"]["name"]}": the object has been modified; please apply your '
                            "changes to the latest version and try again")

    async def replace(self, kind: Kind, ns: str, name: str, obj: dict, *, status_only: bool = False,
                      validation: str = "Warn", warnings: list[str] | None = None, dry_run: bool = False) -> dict:
        current = self.get(kind, ns, name)
        body_name = (obj.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise KubeError(400, "BadRequest", f"the name of the object ({body_name}) does not match the name on "
                            f"the URL ({name})")
        self._precondition(kind, current, obj)
        new = _merge_parts(current, obj, status_only)
        return await self._store_update(kind, ns, name, new, validation, warnings, dry_run)

    async def patch(self, kind: Kind, ns: str, name: str, patch, *, status_only: bool = False,
                    patch_type: str = "merge", validation: str = "Warn", warnings: list[str] | None = None,
                    dry_run: bool = False) -> dict:
        """A merge, strategic merge or server-side apply patch (a dict), or a JSON
        patch (a list of operations). Server-side apply creates the object if
        it is missing and otherwise merges what it sets (no field managers)."""
        if patch_type == "apply" and (kind.plural, ns, name) not in self.objects:
            if (patch.get("metadata") or {}).get("name", name) != name:
                raise KubeError(400, "BadRequest", f"the name of the object does not match the name on the URL "
                                f"({name})")
            return await self.create(kind, ns, {**patch, "metadata": {**(patch.get("metadata") or {}), "name": name}},
                                     validation=validation, warnings=warnings, dry_run=dry_run)
        current = self.get(kind, ns, name)
        if patch_type == "json":
            patched = json_patch(current, patch)  # preconditions come as "test" operations
        else:
            self._precondition(kind, current, patch)
            merge = strategic_merge_patch if patch_type == "strategic" else merge_patch
            patched = merge(current, patch)
        return await self._store_update(kind, ns, name, _merge_parts(current, patched, status_only), validation,
                                        warnings, dry_run)

    async def _store_update(self, kind: Kind, ns: str, name: str, new: dict, validation: str = "Warn",
                            warnings: list[str] | None = None, dry_run: bool = False) -> dict:
        new["apiVersion"], new["kind"] = kind.api_version, kind.kind
        validate_meta(kind, new)
        new = check_schema(kind, new, validation, warnings)
        if dry_run:
            return new
        self._bump(new)
        self.objects[(kind.plural, ns, name)] = new
        await self._record("MODIFIED", kind, ns, new)
        return new

    async def delete(self, kind: Kind, ns: str, name: str, *, dry_run: bool = False) -> dict:
        obj = self.get(kind, ns, name)
        if dry_run:
            return obj
        del self.objects[(kind.plural, ns, name)]
        self._event_keys.pop((kind.plural, ns, name), None)
        obj = copy.deepcopy(obj)
        self._bump(obj)
        await self._record("DELETED", kind, ns, obj)
        return obj
