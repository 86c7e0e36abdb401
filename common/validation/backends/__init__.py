"""Static validation of an mTLS backend's `conf`, one module per type.

The CA backend classes (common/ca/*) call `validate_backend_conf` from their
`validate_conf` classmethod, so the API, the CLI and the zones agree.
"""
from __future__ import annotations

from typing import Any, Callable

from ...errors import Violation, Violations
from ..shape import type_name as describe_type
from . import acmpca, builtin, certmanager, provided, vault

Checker = Callable[[Violations, dict, str], None]

CHECKS: dict[str, Checker] = {
    "builtin": builtin.check,
    "provided": provided.check,
    "vault": vault.check,
    "acmpca": acmpca.check,
    "certmanager": certmanager.check,
}
KNOWN_TYPES = tuple(CHECKS)


def check_backend_conf(v: Violations, backend_type: str, conf: Any, path: str) -> None:
    check = CHECKS.get(backend_type)
    if check is None:
        v.add(path.rsplit(".", 1)[0] + ".type" if path.endswith(".conf") else path,
              f"unknown backend type {backend_type!r}; use one of {', '.join(KNOWN_TYPES)}")
        return
    if conf is None:
        conf = {}
    if not isinstance(conf, dict):
        v.add(path, f"must be a mapping, got {describe_type(conf)}")
        return
    check(v, conf, path)


def validate_backend_conf(type_name: str, conf: dict, path: str) -> list[Violation]:
    """Every violation of `conf` for a backend of `type_name`; `path` is where the
    conf sits, e.g. 'mtls.backends[0].conf'. No I/O: data sources are not read."""
    v = Violations()
    check_backend_conf(v, type_name, conf, path)
    return v.items
