"""The `mtls` section of a Mesh: Kuma's resource rules (mesh_validator.go) and
the CA managers' backend checks, all reported at once.

Kuma v2.14 allows one backend per mesh (`AllowedMTLSBackends = 1`);
MAX_MTLS_BACKENDS mirrors it and callers may pass another limit.
"""
from __future__ import annotations

from typing import Any

from ..ca.builtin import ca_secret_names
from ..ca.registry import KNOWN_TYPES, check_backend_conf
from ..durations import DurationError, is_rotation_expiration, parse_duration
from ..errors import Violations
from ..schema.names import MAX_NAME, check_name
from ..schema.shape import check_bool, check_known, check_list, check_mapping, check_str, field, index, one_of, optional

MAX_MTLS_BACKENDS = 1
BACKEND_FIELDS = ("name", "type", "dpCert", "conf", "mode", "rootChain")
MODES = ("STRICT", "PERMISSIVE")


def check_mtls(v: Violations, mtls: Any, mesh_name: str, *, max_backends: int = MAX_MTLS_BACKENDS) -> None:
    path = "mtls"
    if mtls is None:
        return
    if not check_mapping(v, mtls, path):
        return
    check_known(v, mtls, path, ("enabledBackend", "backends", "skipValidation"))
    optional(v, mtls, "skipValidation", path, check_bool)
    backends = mtls.get("backends")
    names: set[str] = set()
    if backends is not None and check_list(v, backends, field(path, "backends")):
        if len(backends) > max_backends:
            v.add(field(path, "backends"), f"cannot have more than {max_backends} backends; "
                                           "keep one per mesh and change it while mTLS is disabled")
        for i, backend in enumerate(backends):
            name = _check_backend(v, backend, index(field(path, "backends"), i), mesh_name)
            if name is None:
                continue
            if name in names:
                v.add(field(index(field(path, "backends"), i), "name"),
                      f"{name!r} name is already used for another backend; give each backend its own name")
            names.add(name)
    enabled = mtls.get("enabledBackend")
    # An empty enabledBackend with backends is allowed: mTLS is then disabled.
    if enabled not in (None, "") and check_str(v, enabled, field(path, "enabledBackend")):
        if enabled not in names:
            known = f" ({', '.join(sorted(names))})" if names else "; add a backend under mtls.backends"
            v.add(field(path, "enabledBackend"), f"has to be set to one of the backends in the mesh{known}")


def _check_backend(v: Violations, backend: Any, path: str, mesh_name: str) -> str | None:
    """Check one backend entry; return its name when it has a usable one."""
    if not check_mapping(v, backend, path):
        return None
    check_known(v, backend, path, BACKEND_FIELDS)
    name = backend.get("name")
    usable = name if isinstance(name, str) and name else None
    if check_name(v, name, field(path, "name")) and backend.get("type") == "builtin" and mesh_name:
        cert_secret = ca_secret_names(mesh_name, name)[0]
        if len(cert_secret) > MAX_NAME:
            v.add(field(path, "name"), f"is too long: the CA secret name would have {len(cert_secret)} "
                                       f"characters, over {MAX_NAME}; shorten the backend name")
    btype = backend.get("type")
    if btype is None or btype == "":
        v.add(field(path, "type"), f"is required: one of {', '.join(KNOWN_TYPES)}")
    elif btype not in KNOWN_TYPES:
        v.add(field(path, "type"),
              f"could not find installed plugin for type {btype!r}; use one of {', '.join(KNOWN_TYPES)}")
    else:
        check_backend_conf(v, btype, backend.get("conf"), field(path, "conf"))
    if "dpCert" in backend:
        _check_dp_cert(v, backend["dpCert"], field(path, "dpCert"))
    if "mode" in backend:
        one_of(v, backend["mode"], field(path, "mode"), MODES)
    if "rootChain" in backend:
        p = field(path, "rootChain")
        if check_mapping(v, backend["rootChain"], p):
            check_known(v, backend["rootChain"], p, ("requestTimeout",))
            _check_timeout(v, backend["rootChain"], p)
    return usable


def _check_dp_cert(v: Violations, dp_cert: Any, path: str) -> None:
    if not check_mapping(v, dp_cert, path):
        return
    check_known(v, dp_cert, path, ("rotation", "requestTimeout"))
    _check_timeout(v, dp_cert, path)
    rot_path = field(path, "rotation")
    rotation = dp_cert.get("rotation")
    if rotation is not None and not check_mapping(v, rotation, rot_path):
        return
    rotation = rotation or {}
    check_known(v, rotation, rot_path, ("expiration",))
    exp = rotation.get("expiration")
    # As Kuma: once dpCert is set, its expiration has to parse.
    if not isinstance(exp, str) or not is_rotation_expiration(exp):
        v.add(field(rot_path, "expiration"),
              "has to be a valid format, e.g. 24h, 1d or 500ms (one number and one unit: y, w, d, h, m, s, ms) "
              f"or 0, got {exp!r}")


def _check_timeout(v: Violations, obj: dict[str, Any], path: str) -> None:
    if "requestTimeout" not in obj:
        return
    p = field(path, "requestTimeout")
    try:
        parse_duration(obj["requestTimeout"])
    except DurationError as e:
        v.add(p, f"must be a duration such as 10s or 1m30s: {e}")
