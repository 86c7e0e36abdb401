"""What mzsim knows about one mTLS backend type, in one object.

Each backend type is a subpackage `common/ca/<type>/` whose `__init__` holds a
`BackendType`: the static knowledge every part of the system asks about
(global's API and test issue, static validation, the zone's downstream check,
the issuance engine's fingerprints). Its runtime class lives in
`<type>/backend.py` and is imported only when a backend is built, so static
questions never import a CA client library (hvac, boto3, lightkube).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import Violations

if TYPE_CHECKING:
    from .base import CABackend

ConfCheck = Callable[[Violations, dict[str, Any], str], None]

ZONE_ENVIRONMENTS = frozenset({"universal", "kubernetes"})
_ENVIRONMENT_LABELS = {"kubernetes": "Kubernetes", "universal": "universal"}


def data_source_secrets(node: Any) -> set[str]:
    """Names of the mesh secrets that data sources (`{secret: NAME}`) anywhere in `node` refer to."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("secret"), str):
                found.add(item["secret"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


@dataclass(frozen=True)
class BackendType:
    name: str
    check_conf: ConfCheck  # static checks of `conf`: (violations, conf, path) -> None; no I/O
    runtime_module: str  # the module whose `Backend` is the CABackend class
    zone_environments: frozenset[str] = ZONE_ENVIRONMENTS
    # Secrets a backend reads beyond its conf's data sources (builtin: its CA), by (mesh, backend name).
    implicit_secrets: Callable[[str, str], tuple[str, ...]] | None = None

    def used_secrets(self, mesh: str, backend: dict[str, Any]) -> set[str]:
        """Every mesh secret a backend entry reads: the data sources in its conf, plus implicit ones."""
        names = data_source_secrets(backend.get("conf") or {})
        if self.implicit_secrets is not None:
            names.update(self.implicit_secrets(mesh, str(backend.get("name", ""))))
        return names

    def runs_in(self, environment: str) -> bool:
        """Whether a zone of `environment` can issue from this type (global can test-issue from every type)."""
        return environment == "global" or environment in self.zone_environments

    def environment_problem(self, backend_name: str, environment: str) -> str | None:
        """Why a zone of `environment` cannot use this backend, with how to fix it; None if it can."""
        if self.runs_in(environment):
            return None
        wanted = sorted(self.zone_environments)
        needed = " or ".join(_ENVIRONMENT_LABELS.get(e, e) for e in wanted)
        return (f"backend {backend_name!r} is {self.name}, which works only in {needed} zones; this zone's "
                f"environment is {environment}. Run the zone with --environment {wanted[0]}, "
                f"or use another backend for meshes that span {environment} zones")

    def backend_class(self) -> type[CABackend]:
        module = importlib.import_module(self.runtime_module)
        cls: type[CABackend] = module.Backend
        return cls
