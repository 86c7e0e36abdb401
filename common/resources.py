"""The resource model: kinds, and reading and writing the Universal and
Kubernetes forms from YAML or JSON.

A Resource is kind + name (+ mesh for mesh-scoped kinds) + spec. Metadata the
store adds (version, revision, zone, times) lives in `meta`.
"""
from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from .bounded import load_yaml_all
from .errors import BadRequest, ValidationError, Violation, Violations
from .schema.labels import check_labels

SYSTEM_NAMESPACE = "kong-mesh-system"
K8S_API_VERSION = "kuma.io/v1alpha1"
SECRET_K8S_TYPE = "system.kuma.io/secret"
GLOBAL_SECRET_K8S_TYPE = "system.kuma.io/global-secret"
MESH_LABEL = "kuma.io/mesh"


@dataclass(frozen=True)
class KindInfo:
    name: str
    mesh_scoped: bool
    owner: str  # "global" or "zone": who may write it
    plural: str


KINDS: dict[str, KindInfo] = {
    k.name: k
    for k in [
        KindInfo("Mesh", False, "global", "meshes"),
        KindInfo("Secret", True, "global", "secrets"),
        KindInfo("GlobalSecret", False, "global", "global-secrets"),
        KindInfo("Zone", False, "global", "zones"),
        KindInfo("Dataplane", True, "zone", "dataplanes"),
        KindInfo("DataplaneInsight", True, "zone", "dataplane-insights"),
        KindInfo("ZoneInsight", False, "zone", "zone-insights"),
    ]
}

# Kinds whose `spec` holds secret material: never listed, never logged.
SECRET_KINDS = frozenset({"Secret", "GlobalSecret"})


@dataclass
class Resource:
    kind: str
    name: str
    mesh: str | None = None
    spec: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.mesh or "", self.name)

    def copy(self) -> Resource:
        return Resource(self.kind, self.name, self.mesh, copy.deepcopy(self.spec), dict(self.meta))

    # -- wire form (KDS and store): a flat JSON object ----------------------
    def to_wire(self) -> dict:
        d = {"kind": self.kind, "name": self.name, "spec": self.spec}
        if self.mesh is not None:
            d["mesh"] = self.mesh
        if self.meta:
            d["meta"] = self.meta
        return d

    @classmethod
    def from_wire(cls, d: dict) -> Resource:
        if not isinstance(d, dict):
            raise BadRequest("resource must be an object")
        kind, name = d.get("kind"), d.get("name")
        if kind not in KINDS or not isinstance(name, str) or not name:
            raise BadRequest(f"resource needs a known kind and a name, got kind={kind!r}")
        spec = d.get("spec") or {}
        if not isinstance(spec, dict):
            raise BadRequest(f"{kind} {name}: spec must be an object")
        return cls(kind, name, d.get("mesh"), spec, dict(d.get("meta") or {}))

    # -- secrets --------------------------------------------------------------
    def secret_bytes(self) -> bytes:
        return base64.b64decode(self.spec.get("data", ""))

    def redacted(self) -> Resource:
        """A copy without secret material, for listings and logs."""
        if self.kind not in SECRET_KINDS:
            return self
        r = self.copy()
        r.spec = {}
        return r


def secret(name: str, value: bytes | str, mesh: str | None = None, kind: str = "Secret") -> Resource:
    raw = value.encode() if isinstance(value, str) else value
    return Resource(kind, name, mesh if kind == "Secret" else None,
                    {"data": base64.b64encode(raw).decode()})


# ---------------------------------------------------------------------------
# Parsing: Universal and Kubernetes forms
# ---------------------------------------------------------------------------

_UNIVERSAL_RESERVED = {"type", "name", "mesh", "creationTime", "modificationTime", "labels"}


def load_documents(text: str, source: str = "<input>") -> list[Any]:
    """YAML (a superset of JSON) with any number of documents, within common/bounded's
    limits (depth, aliases, numbers). Errors say where."""
    return load_yaml_all(text, source)


def _labels(value: Any, path: str) -> dict[str, str]:
    v = Violations()
    check_labels(v, value, path)
    v.raise_if_any()
    return dict(value)


LOOKS_LIKE = ("a resource has 'type' and 'name' (Universal: type: Mesh, name: default) or 'apiVersion', 'kind' "
              "and 'metadata.name' (Kubernetes: apiVersion: kuma.io/v1alpha1, kind: Mesh, metadata: {name: default})")


def parse_resource(doc: Any, *, default_mesh: str | None = None) -> Resource:
    """A dict in either form -> Resource. Raises ValidationError naming fields."""
    if not isinstance(doc, dict):
        raise ValidationError([Violation("", f"this document holds no resource (it is not a mapping); {LOOKS_LIKE}")])
    if "apiVersion" in doc or "kind" in doc:
        return _parse_kubernetes(doc)
    return _parse_universal(doc, default_mesh)


def _parse_universal(doc: dict, default_mesh: str | None) -> Resource:
    kind = doc.get("type")
    if kind is None:
        raise ValidationError([Violation("type", f"is missing: this document holds no resource; {LOOKS_LIKE}")])
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValidationError([Violation("type", f"unknown type {kind!r}; use one of {', '.join(KINDS)}")])
    info = KINDS[kind]
    name = doc.get("name")
    causes = []
    if not isinstance(name, str) or not name:
        causes.append(Violation("name", "cannot be empty" if not name else "must be a string"))
    mesh = doc.get("mesh", default_mesh)
    if info.mesh_scoped and not mesh:
        causes.append(Violation("mesh", f"a {kind} belongs to a mesh: set 'mesh'"))
    if not info.mesh_scoped and "mesh" in doc:
        causes.append(Violation("mesh", f"a {kind} is not mesh-scoped: remove 'mesh'"))
    if causes:
        raise ValidationError(causes)
    assert isinstance(name, str)  # checked above
    spec = {k: copy.deepcopy(v) for k, v in doc.items() if k not in _UNIVERSAL_RESERVED}
    meta = {"labels": _labels(doc["labels"], "labels")} if doc.get("labels") is not None else {}
    return Resource(kind, name, mesh if info.mesh_scoped else None, spec, meta)


def _parse_kubernetes(doc: dict) -> Resource:
    kind = doc.get("kind")
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        raise ValidationError([Violation("metadata.name", "cannot be empty")])
    name = metadata["name"]
    if not isinstance(name, str):
        raise ValidationError([Violation("metadata.name", "must be a string")])
    labels = _labels(metadata.get("labels") or {}, "metadata.labels")
    if kind == "Secret":
        return _parse_kubernetes_secret(doc, name, metadata, labels)
    if doc.get("apiVersion") != K8S_API_VERSION:
        raise ValidationError([Violation("apiVersion", f"must be {K8S_API_VERSION!r} for kind {kind!r}")])
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValidationError([Violation("kind", f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")])
    info = KINDS[kind]
    spec = doc.get("spec", {}) or {}
    if not isinstance(spec, dict):
        raise ValidationError([Violation("spec", "must be a mapping")])
    mesh = None
    if info.mesh_scoped:
        mesh = doc.get("mesh") or labels.get(MESH_LABEL)
        if not mesh:
            raise ValidationError([Violation(f"metadata.labels[{MESH_LABEL}]",
                                             f"a {kind} belongs to a mesh: set the label {MESH_LABEL}")])
    # The mesh label is the mesh itself, not metadata: keep it out of meta so
    # that to_kubernetes and back round-trips exactly.
    labels = {k: v for k, v in labels.items() if k != MESH_LABEL}
    return Resource(kind, name, mesh, copy.deepcopy(spec), {"labels": labels} if labels else {})


def _parse_kubernetes_secret(doc: dict, name: str, metadata: dict, labels: dict) -> Resource:
    if doc.get("apiVersion") not in ("v1", None):
        raise ValidationError([Violation("apiVersion", "a Secret has apiVersion 'v1'")])
    stype = doc.get("type")
    if stype not in (SECRET_K8S_TYPE, GLOBAL_SECRET_K8S_TYPE):
        raise ValidationError([Violation("type", f"must be {SECRET_K8S_TYPE!r} (mesh-scoped) "
                                                 f"or {GLOBAL_SECRET_K8S_TYPE!r}")])
    data = doc.get("data") or {}
    value = data.get("value") if isinstance(data, dict) else None
    if not isinstance(value, str):
        raise ValidationError([Violation("data.value", "is required: the base64-encoded secret value")])
    try:
        base64.b64decode(value, validate=True)
    except Exception:
        raise ValidationError([Violation("data.value", "must be base64-encoded")]) from None
    ns = metadata.get("namespace", SYSTEM_NAMESPACE)
    if ns != SYSTEM_NAMESPACE:
        raise ValidationError([Violation("metadata.namespace",
                                         f"secrets live in the system namespace {SYSTEM_NAMESPACE!r}")])
    if stype == GLOBAL_SECRET_K8S_TYPE:
        return Resource("GlobalSecret", name, None, {"data": value})
    mesh = labels.get(MESH_LABEL, "default")
    return Resource("Secret", name, mesh, {"data": value})


def parse_text(text: str, source: str = "<input>") -> list[Resource]:
    return [parse_resource(d) for d in load_documents(text, source)]


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def to_universal(r: Resource, *, with_meta: bool = False) -> dict:
    out: dict = {"type": r.kind}
    if r.mesh is not None:
        out["mesh"] = r.mesh
    out["name"] = r.name
    if with_meta:
        for k in ("creationTime", "modificationTime"):
            if k in r.meta:
                out[k] = r.meta[k]
        if r.meta.get("labels"):
            out["labels"] = r.meta["labels"]
    out.update(copy.deepcopy(r.spec))
    return out


def to_kubernetes(r: Resource) -> dict:
    if r.kind in SECRET_KINDS:
        labels = {MESH_LABEL: r.mesh} if r.kind == "Secret" else {}
        md: dict = {"name": r.name, "namespace": SYSTEM_NAMESPACE}
        if labels:
            md["labels"] = labels
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": SECRET_K8S_TYPE if r.kind == "Secret" else GLOBAL_SECRET_K8S_TYPE,
            "metadata": md,
            "data": {"value": r.spec.get("data", "")},
        }
    md = {"name": r.name}
    labels = dict(r.meta.get("labels") or {})
    if r.mesh is not None:
        labels[MESH_LABEL] = r.mesh
    if labels:
        md["labels"] = labels
    return {"apiVersion": K8S_API_VERSION, "kind": r.kind, "metadata": md, "spec": copy.deepcopy(r.spec)}


def dump_yaml(docs: Iterable[dict]) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False)


def dump_json(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=False)


def global_api_path(res: Resource) -> str:
    """Where global's API takes this resource (PUT/GET/DELETE)."""
    if res.kind == "Secret":
        return f"/meshes/{res.mesh}/secrets/{res.name}"
    if res.kind in ("Mesh", "GlobalSecret"):
        return f"/{KINDS[res.kind].plural}/{res.name}"
    raise BadRequest(f"{res.kind} is not applied on global: zones own it")
