"""The `logging`, `tracing` and `metrics` sections of a Mesh (Kuma's rules).

The simulator does not act on them; they are validated so that a Mesh
accepted here would be accepted by Kuma, and unknown fields are rejected as
Kuma's strict proto parsing does.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..errors import Violations
from ..schema.shape import (
    check_bool,
    check_known,
    check_list,
    check_mapping,
    check_port,
    check_str,
    field,
    index,
    is_number,
    one_of,
    optional,
)

LOGGING_TYPES = ("tcp", "file")
TRACING_TYPES = ("zipkin", "datadog")
METRICS_TYPES = ("prometheus",)
ZIPKIN_API_VERSIONS = ("httpJsonV1", "httpJson", "httpProto")
PROMETHEUS_TLS_MODES = ("activeMTLSBackend", "providedTLS", "disabled")

# Checks one backend entry (a mapping) at its path.
BackendCheck = Callable[[Violations, dict[str, Any], str], None]


def _check_backends(v: Violations, section: Any, path: str, default_key: str, check_one: BackendCheck,
                    what: str) -> None:
    """Shared shape: {<default_key>: name, backends: [{name, type, conf}]}."""
    if section is None or not check_mapping(v, section, path):
        return
    check_known(v, section, path, (default_key, "backends"))
    names: set[str] = set()
    backends = section.get("backends")
    if backends is not None and check_list(v, backends, field(path, "backends")):
        for i, backend in enumerate(backends):
            p = index(field(path, "backends"), i)
            if not check_mapping(v, backend, p):
                continue
            check_one(v, backend, p)
            name = backend.get("name")
            if isinstance(name, str):
                if name in names:
                    v.add(field(p, "name"), f"{name!r} name is already used for another backend")
                names.add(name)
    default = section.get(default_key)
    if default not in (None, "") and default not in names:
        v.add(field(path, default_key), f"has to be set to one of the {what} backends in the mesh")


def _name_and_type(v: Violations, backend: dict[str, Any], path: str, types: tuple[str, ...]) -> str | None:
    if not backend.get("name"):
        v.add(field(path, "name"), "cannot be empty")
    else:
        check_str(v, backend["name"], field(path, "name"))
    btype = backend.get("type")
    if btype not in types:
        v.add(field(path, "type"), f"unknown backend type {btype!r}; available backends: {', '.join(types)}")
        return None
    return btype


def _conf(v: Violations, backend: dict[str, Any], path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
    conf = backend.get("conf")
    if conf is None:
        conf = {}
    if not check_mapping(v, conf, path):
        return None
    check_known(v, conf, path, allowed)
    return conf


# -- logging -------------------------------------------------------------------

def _check_logging_backend(v: Violations, backend: dict[str, Any], path: str) -> None:
    check_known(v, backend, path, ("name", "format", "type", "conf"))
    optional(v, backend, "format", path, check_str)
    btype = _name_and_type(v, backend, path, LOGGING_TYPES)
    p = field(path, "conf")
    if btype == "file":
        conf = _conf(v, backend, p, ("path",))
        if conf is not None and not conf.get("path"):
            v.add(field(p, "path"), "cannot be empty: the file to write access logs to")
    elif btype == "tcp":
        conf = _conf(v, backend, p, ("address",))
        if conf is not None:
            _check_host_port(v, conf.get("address"), field(p, "address"))


def _check_host_port(v: Violations, address: Any, path: str) -> None:
    if not address:
        v.add(path, "cannot be empty: use HOST:PORT")
        return
    host, _, port = str(address).rpartition(":")
    if not host or not port.isdigit():
        v.add(path, "has to be in format of HOST:PORT")


def check_logging(v: Violations, logging: Any) -> None:
    _check_backends(v, logging, "logging", "defaultBackend", _check_logging_backend, "logging")


# -- tracing -------------------------------------------------------------------

def _check_tracing_backend(v: Violations, backend: dict[str, Any], path: str) -> None:
    check_known(v, backend, path, ("name", "sampling", "type", "conf"))
    if "sampling" in backend:
        s = backend["sampling"]
        if not is_number(s) or not 0.0 <= s <= 100.0:
            v.add(field(path, "sampling"), f"has to be in [0.0 - 100.0] range, got {s!r}")
    btype = _name_and_type(v, backend, path, TRACING_TYPES)
    p = field(path, "conf")
    if btype == "zipkin":
        conf = _conf(v, backend, p, ("url", "traceId128bit", "apiVersion", "sharedSpanContext"))
        if conf is None:
            return
        if conf.get("apiVersion") not in (None, ""):
            one_of(v, conf["apiVersion"], field(p, "apiVersion"), ZIPKIN_API_VERSIONS)
        optional(v, conf, "traceId128bit", p, check_bool)
        optional(v, conf, "sharedSpanContext", p, check_bool)
        url = conf.get("url")
        if not url:
            v.add(field(p, "url"), "cannot be empty: e.g. http://zipkin:9411/api/v2/spans")
        elif check_str(v, url, field(p, "url")):
            try:
                parts = urlsplit(url)
                has_port = parts.port is not None
            except ValueError:
                parts, has_port = None, False
            if parts is None or not parts.scheme or not parts.netloc:
                v.add(field(p, "url"), "invalid URL")
            elif not has_port:
                v.add(field(p, "url"), "port has to be explicitly specified")
    elif btype == "datadog":
        conf = _conf(v, backend, p, ("address", "port", "splitService"))
        if conf is None:
            return
        if not conf.get("address"):
            v.add(field(p, "address"), "cannot be empty")
        check_port(v, conf.get("port"), field(p, "port"))
        optional(v, conf, "splitService", p, check_bool)


def check_tracing(v: Violations, tracing: Any) -> None:
    _check_backends(v, tracing, "tracing", "defaultBackend", _check_tracing_backend, "tracing")


# -- metrics -------------------------------------------------------------------

_PROMETHEUS_FIELDS = ("port", "path", "tags", "skipMTLS", "tls", "envoy", "aggregate")


def _check_metrics_backend(v: Violations, backend: dict[str, Any], path: str) -> None:
    check_known(v, backend, path, ("name", "type", "conf"))
    if _name_and_type(v, backend, path, METRICS_TYPES) is None:
        return
    p = field(path, "conf")
    conf = _conf(v, backend, p, _PROMETHEUS_FIELDS)
    if conf is None:
        return
    if "port" in conf:
        check_port(v, conf["port"], field(p, "port"))
    optional(v, conf, "path", p, check_str)
    optional(v, conf, "tags", p, check_mapping)
    optional(v, conf, "skipMTLS", p, check_bool)
    mode = None
    if "tls" in conf and check_mapping(v, conf["tls"], field(p, "tls")):
        check_known(v, conf["tls"], field(p, "tls"), ("mode",))
        mode = conf["tls"].get("mode", "activeMTLSBackend")
        one_of(v, mode, field(p, "tls.mode"), PROMETHEUS_TLS_MODES)
    skip = conf.get("skipMTLS")
    if isinstance(skip, bool) and mode is not None and not (
            (not skip and mode == "activeMTLSBackend") or (skip and mode == "disabled")):
        v.add(p, "skipMTLS and tls configuration cannot be defined together; keep only tls.mode")
    if "envoy" in conf and check_mapping(v, conf["envoy"], field(p, "envoy")):
        envoy = conf["envoy"]
        check_known(v, envoy, field(p, "envoy"), ("filterRegex", "usedOnly"))
        optional(v, envoy, "usedOnly", field(p, "envoy"), check_bool)
        regex = envoy.get("filterRegex")
        if regex is not None and check_str(v, regex, field(p, "envoy.filterRegex")):
            try:
                re.compile(regex)
            except re.error as e:
                v.add(field(p, "envoy.filterRegex"), f"provided regexp isn't correct: {e}")
    if "aggregate" in conf and check_list(v, conf["aggregate"], field(p, "aggregate")):
        seen: set[Any] = set()
        for i, agg in enumerate(conf["aggregate"]):
            ap = index(field(p, "aggregate"), i)
            if not check_mapping(v, agg, ap):
                continue
            check_known(v, agg, ap, ("name", "port", "path", "enabled", "address"))
            if agg.get("name") in seen:
                v.add(field(ap, "name"), f"duplicate entry: {agg.get('name')}, values have to be unique")
            seen.add(agg.get("name"))
            if "port" in agg:
                check_port(v, agg["port"], field(ap, "port"))


def check_metrics(v: Violations, metrics: Any) -> None:
    _check_backends(v, metrics, "metrics", "enabledBackend", _check_metrics_backend, "metrics")
