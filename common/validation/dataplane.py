"""Dataplane and DataplaneInsight (zone-owned kinds).

A Dataplane needs `networking.address` (an IP or hostname) and at least one
inbound, each with a port and tags including kuma.io/service. Kuma also takes
tag-less inbounds (its newer model) and gateways without inbounds; the
simulator issues certificates from inbound tags, so it requires them, and
accepts a `networking.gateway` (with its own kuma.io/service tag) instead.
"""
from __future__ import annotations

from typing import Any

from ..errors import Violations
from ..schema.names import check_address, check_tags, is_ip
from ..schema.shape import check_known, check_list, check_mapping, check_port, check_str, field, index, one_of, optional

DATAPLANE_FIELDS = ("networking", "metrics", "probes")
NETWORKING_FIELDS = ("address", "advertisedAddress", "inbound", "outbound", "gateway", "admin",
                     "transparentProxying", "listeners")
INBOUND_FIELDS = ("port", "servicePort", "serviceAddress", "address", "tags", "health", "serviceProbe",
                  "state", "name", "protocol")
OUTBOUND_FIELDS = ("address", "port", "tags", "backendRef")
INBOUND_STATES = ("Ready", "NotReady", "Ignored")
GATEWAY_TYPES = ("DELEGATED", "BUILTIN")


def check_dataplane(v: Violations, spec: dict[str, Any]) -> None:
    check_known(v, spec, "", DATAPLANE_FIELDS)
    net = spec.get("networking")
    if net is None:
        v.add("networking", "must be defined: set networking.address and networking.inbound")
        return
    if not check_mapping(v, net, "networking"):
        return
    check_known(v, net, "networking", NETWORKING_FIELDS)
    check_address(v, net.get("address"), "networking.address")
    if net.get("advertisedAddress"):
        check_address(v, net["advertisedAddress"], "networking.advertisedAddress")
    gateway = net.get("gateway")
    inbound = net.get("inbound")
    if gateway is not None:
        _check_gateway(v, gateway, "networking.gateway")
        if inbound:
            v.add("networking.inbound", "inbound cannot be defined for gateways; remove it or remove gateway")
    elif not inbound:
        v.add("networking.inbound", "must have at least one inbound: e.g. [{port: 8080, tags: {kuma.io/service: web}}]")
    elif check_list(v, inbound, "networking.inbound"):
        for i, item in enumerate(inbound):
            _check_inbound(v, item, index("networking.inbound", i))
    outbound = net.get("outbound")
    if outbound is not None and check_list(v, outbound, "networking.outbound"):
        for i, item in enumerate(outbound):
            _check_outbound(v, item, index("networking.outbound", i))


def _check_inbound(v: Violations, inbound: Any, path: str) -> None:
    if not check_mapping(v, inbound, path):
        return
    check_known(v, inbound, path, INBOUND_FIELDS)
    check_port(v, inbound.get("port"), field(path, "port"))
    if inbound.get("servicePort") not in (None, 0):
        check_port(v, inbound["servicePort"], field(path, "servicePort"))
    for addr in ("serviceAddress", "address"):
        value = inbound.get(addr)
        if value and not (isinstance(value, str) and is_ip(value)):
            v.add(field(path, addr), f"{addr} has to be valid IP address, got {value!r}")
    if "state" in inbound:
        one_of(v, inbound["state"], field(path, "state"), INBOUND_STATES)
    optional(v, inbound, "name", path, check_str)
    optional(v, inbound, "protocol", path, check_str)
    tags = inbound.get("tags")
    if tags is None:
        v.add(field(path, "tags"), "is required: at least kuma.io/service: <service name>")
    else:
        check_tags(v, tags, field(path, "tags"), require_service=True)


def _check_outbound(v: Violations, outbound: Any, path: str) -> None:
    if not check_mapping(v, outbound, path):
        return
    check_known(v, outbound, path, OUTBOUND_FIELDS)
    if "port" in outbound:
        check_port(v, outbound["port"], field(path, "port"))
    if outbound.get("address") and not (isinstance(outbound["address"], str) and is_ip(outbound["address"])):
        v.add(field(path, "address"), "address has to be valid IP address")
    if "tags" in outbound:
        check_tags(v, outbound["tags"], field(path, "tags"), require_service=True)
    elif "backendRef" not in outbound:
        v.add(field(path, "tags"), 'mandatory tag "kuma.io/service" is missing: set tags or backendRef')


def _check_gateway(v: Violations, gateway: Any, path: str) -> None:
    if not check_mapping(v, gateway, path):
        return
    check_known(v, gateway, path, ("tags", "type"))
    if "type" in gateway:
        one_of(v, gateway["type"], field(path, "type"), GATEWAY_TYPES)
    check_tags(v, gateway.get("tags") or {}, field(path, "tags"), require_service=True)


def check_dataplane_insight(v: Violations, spec: dict[str, Any]) -> None:
    """Light: the zone writes these; only the shape of known sections is checked."""
    if "subscriptions" in spec and check_list(v, spec["subscriptions"], "subscriptions"):
        for i, sub in enumerate(spec["subscriptions"]):
            check_mapping(v, sub, index("subscriptions", i))
    if "mTLS" in spec and spec["mTLS"] is not None:
        check_mapping(v, spec["mTLS"], "mTLS")
