"""A Mesh: its name, every top-level section Kuma knows, and the update rule.

Paths are relative to the spec, as Kuma's API reports them (`mtls.enabledBackend`).
"""
from __future__ import annotations

from typing import Any

from ..errors import Violation, Violations
from ..resources import Resource
from ..schema.names import MAX_MESH_NAME, check_name, check_tags
from ..schema.shape import check_bool, check_known, check_list, check_mapping, check_str, field, index, one_of, optional
from .mtls import MAX_MTLS_BACKENDS, check_mtls
from .observability import check_logging, check_metrics, check_tracing

MESH_FIELDS = ("mtls", "logging", "tracing", "metrics", "networking", "routing", "constraints",
               "meshServices", "skipCreatingInitialPolicies")
MESH_SERVICES_MODES = ("Disabled", "Everywhere", "ReachableBackends", "Exclusive")


def check_mesh(v: Violations, name: str, spec: dict[str, Any], *, max_backends: int = MAX_MTLS_BACKENDS) -> None:
    check_name(v, name, "name", MAX_MESH_NAME)
    check_known(v, spec, "", MESH_FIELDS)
    check_mtls(v, spec.get("mtls"), name if isinstance(name, str) else "", max_backends=max_backends)
    check_logging(v, spec.get("logging"))
    check_tracing(v, spec.get("tracing"))
    check_metrics(v, spec.get("metrics"))
    _check_networking(v, spec.get("networking"))
    _check_routing(v, spec.get("routing"), spec.get("mtls"))
    _check_constraints(v, spec.get("constraints"))
    if spec.get("meshServices") is not None and check_mapping(v, spec["meshServices"], "meshServices"):
        check_known(v, spec["meshServices"], "meshServices", ("mode",))
        if "mode" in spec["meshServices"]:
            one_of(v, spec["meshServices"]["mode"], "meshServices.mode", MESH_SERVICES_MODES)
    skip = spec.get("skipCreatingInitialPolicies")
    if skip is not None and check_list(v, skip, "skipCreatingInitialPolicies"):
        for i, item in enumerate(skip):
            check_str(v, item, index("skipCreatingInitialPolicies", i))


def _check_networking(v: Violations, networking: Any) -> None:
    if networking is None or not check_mapping(v, networking, "networking"):
        return
    check_known(v, networking, "networking", ("outbound",))
    outbound = networking.get("outbound")
    if outbound is not None and check_mapping(v, outbound, "networking.outbound"):
        check_known(v, outbound, "networking.outbound", ("passthrough",))
        optional(v, outbound, "passthrough", "networking.outbound", check_bool)


def _check_routing(v: Violations, routing: Any, mtls: Any) -> None:
    if routing is None or not check_mapping(v, routing, "routing"):
        return
    flags = ("localityAwareLoadBalancing", "zoneEgress", "defaultForbidMeshExternalServiceAccess")
    check_known(v, routing, "routing", flags)
    for flag in flags:
        optional(v, routing, flag, "routing", check_bool)
    if routing.get("zoneEgress") is True:
        enabled = mtls.get("enabledBackend") if isinstance(mtls, dict) else None
        if not enabled:
            v.add("mtls", "has to be set when zoneEgress enabled: enable an mTLS backend or turn "
                          "routing.zoneEgress off")


def _check_constraints(v: Violations, constraints: Any) -> None:
    if constraints is None or not check_mapping(v, constraints, "constraints"):
        return
    check_known(v, constraints, "constraints", ("dataplaneProxy",))
    dpp = constraints.get("dataplaneProxy")
    path = "constraints.dataplaneProxy"
    if dpp is None or not check_mapping(v, dpp, path):
        return
    check_known(v, dpp, path, ("requirements", "restrictions"))
    for section in ("requirements", "restrictions"):
        rules = dpp.get(section)
        if rules is None or not check_list(v, rules, field(path, section)):
            continue
        for i, rule in enumerate(rules):
            rp = index(field(path, section), i)
            if not check_mapping(v, rule, rp):
                continue
            check_known(v, rule, rp, ("tags",))
            tags = rule.get("tags")
            if not tags:
                v.add(field(rp, "tags"), "must have at least one tag")
            else:
                check_tags(v, tags, field(rp, "tags"), selector=True)


def validate_mesh(res: Resource, *, max_backends: int = MAX_MTLS_BACKENDS) -> list[Violation]:
    """Every violation of a Mesh, statically (no data source is read)."""
    v = Violations()
    check_mesh(v, res.name, res.spec, max_backends=max_backends)
    return v.items


def _mtls_enabled_backend(spec: dict[str, Any]) -> str:
    mtls = spec.get("mtls")
    return (mtls.get("enabledBackend") or "") if isinstance(mtls, dict) else ""


def validate_mesh_update(old: Resource, new: Resource) -> list[Violation]:
    """Kuma's update rule: the CA cannot change while mTLS stays enabled."""
    before, after = _mtls_enabled_backend(old.spec), _mtls_enabled_backend(new.spec)
    if before and after and before != after:
        return [Violation("mtls.enabledBackend", "Changing CA when mTLS is enabled is forbidden. "
                                                 "Disable mTLS first and then change the CA")]
    return []
