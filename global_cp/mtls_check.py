"""Global's check of a Mesh's mTLS backends before it is stored.

For a new mesh, or when `enabledBackend` or any backend changed, each new or
changed backend (and the enabled one) is built, `ensure()`d (builtin creates
its CA here) and asked for one throwaway certificate. Backend types in
`skip_test_issue_types` are ensured but not test-issued (Kong Mesh 2.4+ skips
acmpca and certmanager; the default here checks every type).

Nothing is stored here: the caller stores the mesh and the returned resources
only if this returns. A failure raises ValidationError whose cause is
`mtls.backends[i]` and whose message quotes the backend's own error.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

from common.ca import registry
from common.ca.base import BackendContext, CABackend, dp_lifetime
from common.errors import MzsimError, ValidationError, Violation, error_text
from common.resources import Resource
from common.x509util import Identity

log = logging.getLogger("mzsim.global.mtls")

TEST_DATAPLANE = "_mzsim_validation"
TEST_SERVICE = "mzsim-validation"
# How a Kubernetes zone names services: {name}_{namespace}_svc_{port}.
KUBERNETES_TEST_SERVICE = "mzsim-validation_kong-mesh-system_svc_80"
MAX_REPORTED_SERVICES = 3  # service names the zones reported, test-issued on top of one per environment


def services_to_test(environments: Iterable[str], reported: Iterable[str]) -> list[str]:
    """The kuma.io/service names to test-issue for: one shaped as each zone
    environment shapes them (universal when no zone is known), then up to
    MAX_REPORTED_SERVICES of the names the zones reported, so that a CA role
    checking hostnames refuses on global what it would refuse on the zones."""
    shapes = {"kubernetes": KUBERNETES_TEST_SERVICE}
    names = [shapes.get(e, TEST_SERVICE) for e in sorted(set(environments) or {"universal"})]
    names = list(dict.fromkeys(names))
    extra = [n for n in sorted(set(reported)) if n not in names]
    return names + extra[:MAX_REPORTED_SERVICES]


def reported_services(dataplanes: Iterable[Resource]) -> set[str]:
    """The kuma.io/service tags of Dataplanes the zones reported."""
    out: set[str] = set()
    for dp in dataplanes:
        net = dp.spec.get("networking") or {}
        tagged = [*(net.get("inbound") or []), net.get("gateway") or {}]
        for item in tagged:
            svc = ((item or {}).get("tags") or {}).get("kuma.io/service") if isinstance(item, dict) else None
            if isinstance(svc, str) and svc:
                out.add(svc)
    return out


def _mtls(mesh: Resource | None) -> dict[str, Any]:
    return (mesh.spec.get("mtls") or {}) if mesh is not None else {}


def backends_to_check(mesh: Resource, previous: Resource | None) -> list[int]:
    """Indexes of the backends that are new or changed, plus the enabled one
    when anything about mTLS changed."""
    now, before = _mtls(mesh), _mtls(previous)
    backends = now.get("backends") or []
    old = {b.get("name"): b for b in before.get("backends") or [] if isinstance(b, dict)}
    changed = [i for i, b in enumerate(backends) if previous is None or old.get(b.get("name")) != b]
    enabled_changed = previous is None or now.get("enabledBackend") != before.get("enabledBackend")
    if not changed and not enabled_changed:
        return []
    enabled = now.get("enabledBackend")
    for i, b in enumerate(backends):
        if b.get("name") == enabled and i not in changed:
            changed.append(i)
    return sorted(changed)


def _with_pending(ctx: BackendContext, pending: dict[tuple[str, str], Resource]) -> BackendContext:
    """A context whose secret lookup also sees secrets about to be stored."""
    inner = ctx.secret_lookup

    def lookup(mesh: str, name: str) -> Resource | None:
        found = pending.get((mesh, name))
        if found is not None:
            return found
        return inner(mesh, name) if inner else None

    return dataclasses.replace(ctx, secret_lookup=lookup)


async def prepare_mesh(mesh: Resource, previous: Resource | None, ctx: BackendContext, *,
                       skip_test_issue_types: frozenset[str] = frozenset(),
                       services: list[str] | None = None, warnings: list[str] | None = None,
                       also: Iterable[int] = ()) -> list[Resource]:
    """`services`: the kuma.io/service names to test-issue for (services_to_test); `warnings`
    collects what the backends warn about; `also`: backends to prepare even if unchanged."""
    services = services or [TEST_SERVICE]
    backends = _mtls(mesh).get("backends") or []
    pending: dict[tuple[str, str], Resource] = {}
    check_ctx = _with_pending(ctx, pending)
    built: list[CABackend] = []
    try:
        for i in sorted(set(backends_to_check(mesh, previous)) | set(also)):
            spec = backends[i]
            name = spec.get("name", "")
            field = f"mtls.backends[{i}]"
            try:
                backend = registry.build(mesh.name, spec, check_ctx)
            except registry.UnknownBackendType:
                raise ValidationError([Violation(f"{field}.type", f"unknown backend type {spec.get('type')!r}; "
                                                 f"use one of {', '.join(registry.KNOWN_TYPES)}")]) from None
            built.append(backend)
            try:
                for res in await backend.ensure():
                    pending[(res.mesh or "", res.name)] = res
            except Exception as e:  # noqa: BLE001 - every failure becomes the apply's 400
                raise _rejection(field, f'could not prepare backend "{name}"', e) from None
            if spec.get("type") in skip_test_issue_types:
                continue
            for service in services:
                identity = Identity(mesh.name, TEST_DATAPLANE, {"kuma.io/service": [service]})
                try:
                    cert = await backend.issue(identity, dp_lifetime(spec))
                except Exception as e:  # noqa: BLE001
                    what = f'could not issue a test certificate from backend "{name}"'
                    if len(services) > 1:
                        what += f' for service "{service}"'
                    raise _rejection(field, what, e) from None
                if cert.chain_problem:
                    raise ValidationError([Violation(field, f'backend "{name}": {cert.chain_problem}')])
            if warnings is not None:
                warnings.extend(f"{field} ({name}): {w}" for w in backend.warnings())
            log.info("mesh %s: backend %r test-issued %d certificates", mesh.name, name, len(services))
    finally:
        for backend in built:
            try:
                await backend.close()
            except Exception:  # noqa: BLE001 - closing must not hide the outcome
                log.exception("mesh %s: closing backend %r failed", mesh.name, backend.name)
    return list(pending.values())


def _rejection(field: str, what: str, exc: Exception) -> ValidationError:
    if not isinstance(exc, MzsimError):  # not a backend's own error: keep the traceback for us
        log.warning("%s", what, exc_info=exc)
    return ValidationError([Violation(field, f"{what}: {error_text(exc)}")])
