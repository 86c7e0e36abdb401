"""Backend type name -> CABackend class. Modules register lazily, so a process
that never uses vault never imports hvac."""
from __future__ import annotations

import importlib

from .base import BackendContext, CABackend

_MODULES = {
    "builtin": "common.ca.builtin",
    "provided": "common.ca.provided",
    "vault": "common.ca.vault",
    "acmpca": "common.ca.acmpca",
    "certmanager": "common.ca.certmanager",
}

KNOWN_TYPES = tuple(_MODULES)


class UnknownBackendType(KeyError):
    pass


def backend_class(type_name: str) -> type[CABackend]:
    module_name = _MODULES.get(type_name)
    if module_name is None:
        raise UnknownBackendType(type_name)
    module = importlib.import_module(module_name)
    return module.Backend


def build(mesh: str, spec: dict, ctx: BackendContext) -> CABackend:
    return backend_class(spec.get("type", ""))(mesh, spec, ctx)
