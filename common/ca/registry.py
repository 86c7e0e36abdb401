"""The one registry of mTLS backend types. Every question about a type goes
through here: static validation of its conf, the secrets a mesh uses (global's
secret-delete check, the zone's reissue fingerprint), which zone environments
can issue from it (the zone's downstream check, global's warnings), and
building a backend. Runtime classes load lazily, so a process that never uses
vault never imports hvac."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import BackendError, Violations
from ..resources import Resource
from ..schema.shape import type_name as describe_type
from . import acmpca, builtin, certmanager, provided, vault
from .base import BackendContext, CABackend
from .types import ZONE_ENVIRONMENTS, BackendType, data_source_secrets

TYPES: dict[str, BackendType] = {t.name: t for t in (builtin.TYPE, provided.TYPE, vault.TYPE, acmpca.TYPE,
                                                      certmanager.TYPE)}
KNOWN_TYPES = tuple(TYPES)


class UnknownBackendType(KeyError):
    pass


def backend_type(type_name: str) -> BackendType:
    found = TYPES.get(type_name)
    if found is None:
        raise UnknownBackendType(type_name)
    return found


def backend_class(type_name: str) -> type[CABackend]:
    return backend_type(type_name).backend_class()


def build(mesh: str, spec: dict[str, Any], ctx: BackendContext) -> CABackend:
    """A backend for one mesh's backend entry; BackendError if this process's environment cannot run it."""
    found = backend_type(spec.get("type", ""))
    problem = found.environment_problem(str(spec.get("name", "")), ctx.environment)
    if problem:
        raise BackendError(problem, retryable=False)
    return found.backend_class()(mesh, spec, ctx)


def check_backend_conf(v: Violations, type_name: str, conf: Any, path: str) -> None:
    """Static checks of one backend's `conf` at `path` (e.g. 'mtls.backends[0].conf'); no I/O."""
    found = TYPES.get(type_name)
    if found is None:
        v.add(path.rsplit(".", 1)[0] + ".type" if path.endswith(".conf") else path,
              f"unknown backend type {type_name!r}; use one of {', '.join(KNOWN_TYPES)}")
        return
    if conf is None:
        conf = {}
    if not isinstance(conf, dict):
        v.add(path, f"must be a mapping, got {describe_type(conf)}")
        return
    found.check_conf(v, conf, path)


def _backends(mesh: Resource) -> list[dict[str, Any]]:
    mtls = mesh.spec.get("mtls") if isinstance(mesh.spec, dict) else None
    backends = mtls.get("backends") if isinstance(mtls, dict) else None
    return [b for b in backends or [] if isinstance(b, dict)]


def backend_secrets(mesh: str, backend: dict[str, Any]) -> set[str]:
    """The mesh secrets one backend entry reads (an unknown type: its data sources only)."""
    found = TYPES.get(str(backend.get("type", "")))
    if found is None:
        return data_source_secrets(backend.get("conf") or {})
    return found.used_secrets(mesh, backend)


def secret_users(meshes: Iterable[Resource], mesh: str, secret: str) -> list[str]:
    """'mesh M backend B' for every backend of mesh `mesh` that reads `secret`, enabled or not."""
    return [f"mesh {m.name} backend {b.get('name', i)!r}"
            for m in meshes if m.name == mesh
            for i, b in enumerate(_backends(m)) if secret in backend_secrets(m.name, b)]


def environment_problems(mesh: Resource, environment: str) -> list[str]:
    """Why a zone of `environment` cannot use this mesh's backends (empty when it can)."""
    problems = []
    for b in _backends(mesh):
        found = TYPES.get(str(b.get("type", "")))
        problem = found.environment_problem(str(b.get("name", "")), environment) if found else None
        if problem:
            problems.append(problem)
    return problems


def zone_environments(mesh: Resource) -> frozenset[str]:
    """The zone environments that can use every backend of the mesh."""
    allowed = ZONE_ENVIRONMENTS
    for b in _backends(mesh):
        found = TYPES.get(str(b.get("type", "")))
        if found is not None:
            allowed &= found.zone_environments
    return allowed
