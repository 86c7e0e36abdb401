"""Static validation of resources, faithful to Kuma v2.14 where Kuma has a rule.

Every function returns every violation at once, each with a field path
relative to the spec (`mtls.backends[0].conf.fromCp.auth`) and a message that
says how to fix it. Nothing here does I/O: data sources (secrets, files) are
checked for shape only and resolved later by whoever uses them.

    validate_resource(res)        any kind, dispatched by res.kind
    validate_mesh(res)            a Mesh (mtls, logging, tracing, metrics, ...)
    validate_mesh_update(old, new)  Kuma's rule for changing a stored Mesh
    validate_backend_conf(type, conf, path)  one mTLS backend's conf (rules: common/ca/<type>/conf.py)
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ca.registry import KNOWN_TYPES, check_backend_conf
from ..errors import Violation, Violations
from ..resources import KINDS, Resource
from ..schema.names import check_mesh_ref, check_name
from .dataplane import check_dataplane, check_dataplane_insight
from .mesh import check_mesh, validate_mesh, validate_mesh_update
from .mtls import MAX_MTLS_BACKENDS
from .secret import check_secret
from .zone import check_zone, check_zone_insight

__all__ = [
    "KNOWN_TYPES",
    "MAX_MTLS_BACKENDS",
    "validate_backend_conf",
    "validate_mesh",
    "validate_mesh_update",
    "validate_resource",
]

_SPEC_CHECKS: dict[str, Callable[[Violations, dict[str, Any]], None]] = {
    "Secret": check_secret,
    "GlobalSecret": check_secret,
    "Zone": check_zone,
    "ZoneInsight": check_zone_insight,
    "Dataplane": check_dataplane,
    "DataplaneInsight": check_dataplane_insight,
}


def validate_backend_conf(type_name: str, conf: Any, path: str) -> list[Violation]:
    """Every violation of `conf` for a backend of `type_name`; `path` is where the
    conf sits, e.g. 'mtls.backends[0].conf'. No I/O: data sources are not read."""
    v = Violations()
    check_backend_conf(v, type_name, conf, path)
    return v.items


def validate_resource(res: Resource) -> list[Violation]:
    """Every violation of `res`: its name, its mesh (when mesh-scoped) and its spec."""
    v = Violations()
    info = KINDS.get(res.kind)
    if info is None:
        v.add("type", f"unknown kind {res.kind!r}; use one of {', '.join(KINDS)}")
        return v.items
    if info.mesh_scoped:
        check_mesh_ref(v, res.mesh)
    elif res.mesh is not None:
        v.add("mesh", f"a {res.kind} is not mesh-scoped: remove 'mesh'")
    if not isinstance(res.spec, dict):
        v.add("spec", "must be a mapping")
        return v.items
    if res.kind == "Mesh":
        check_mesh(v, res.name, res.spec)
    else:
        check_name(v, res.name, "name")
        _SPEC_CHECKS[res.kind](v, res.spec)
    return v.items
