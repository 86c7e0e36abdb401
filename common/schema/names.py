"""Names, tags, addresses and URLs, with Kuma's character sets."""
from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from ..errors import Violations
from .shape import check_mapping, check_str, key

# A lowercase RFC 1123 subdomain: Kuma's rule for resource names (≤ 253).
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Mesh names referenced by mesh-scoped resources: Kuma keeps the older set with '_'.
MESH_REF = re.compile(r"^[0-9a-z\-_.]+$")
# A hostname: RFC 1123 labels of at most 63 characters (case-insensitive).
_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
TAG_NAME = re.compile(r"^[a-zA-Z0-9.\-_:/]+$")
TAG_VALUE = re.compile(r"^[a-zA-Z0-9.\-_:]+$")
SELECTOR_VALUE = re.compile(r"^([a-zA-Z0-9.\-_:/]+|\*)$")

SERVICE_TAG = "kuma.io/service"
MAX_NAME = 253
MAX_MESH_NAME = 63

_NAME_HINT = ("use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit "
              "(a lowercase RFC 1123 subdomain)")


def name_error(name: object, max_len: int = MAX_NAME) -> str | None:
    """None if `name` is a valid resource name, else what is wrong and how to fix it."""
    if not isinstance(name, str) or not name:
        return "cannot be empty"
    if len(name) > max_len:
        return f"cannot be longer than {max_len} characters (it has {len(name)})"
    if not DNS_SUBDOMAIN.match(name):
        return f"invalid characters in {name!r}: {_NAME_HINT}"
    return None


def check_name(v: Violations, name: object, path: str, max_len: int = MAX_NAME) -> bool:
    err = name_error(name, max_len)
    if err:
        v.add(path, err)
    return err is None


def check_mesh_ref(v: Violations, mesh: object, path: str = "mesh") -> None:
    if not isinstance(mesh, str) or not mesh:
        v.add(path, "cannot be empty: set the mesh this resource belongs to")
    elif len(mesh) > MAX_NAME or not MESH_REF.match(mesh):
        v.add(path, f"invalid mesh name {mesh!r}: use lowercase letters, digits, '-', '_' and '.'")


def is_hostname(text: str) -> bool:
    if not text or len(text) > 253:
        return False
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    return all(len(label) <= 63 and _HOST_LABEL.match(label) for label in labels)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_address(v: Violations, value: Any, path: str) -> None:
    """An IP address or a hostname a peer can reach (not a wildcard)."""
    if value is None or value == "":
        v.add(path, "is required: an IP address or a hostname")
        return
    if not check_str(v, value, path):
        return
    if value in ("0.0.0.0", "::"):
        v.add(path, "must not be 0.0.0.0 or ::; use the address other proxies reach this one at")
    elif not (is_ip(value) or is_hostname(value)):
        v.add(path, f"{value!r} is neither an IP address nor a valid hostname")


def url_error(value: str, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    """None if `value` is an absolute URL with one of `schemes` and a host."""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as e:
        return f"{value!r} is not a valid URL: {e}"
    if parts.scheme not in schemes:
        return f"{value!r} must start with {' or '.join(s + '://' for s in schemes)}"
    if not parts.hostname:
        return f"{value!r} has no host; use e.g. {schemes[-1]}://vault.example.com:8200"
    if port == 0:
        return f"{value!r} has port 0; use a port in [1, 65535]"
    return None


def check_tags(v: Violations, tags: Any, path: str, *, require_service: bool = False,
               selector: bool = False) -> None:
    """Tag names and values with Kuma's character sets; selectors may use '*'."""
    if not check_mapping(v, tags, path):
        return
    value_re = SELECTOR_VALUE if selector else TAG_VALUE
    for name, value in tags.items():
        p = key(path, str(name))
        if not isinstance(name, str) or not name:
            v.add(p if name not in (None, "") else path, "tag name must be a non-empty string; quote it in YAML")
            continue
        if not TAG_NAME.match(name):
            v.add(p, "tag name must consist of alphanumeric characters, dots, dashes, slashes, colons and underscores")
        if value is None or value == "":
            v.add(p, "tag value must be non-empty")
        elif not isinstance(value, str):
            v.add(p, f"tag value must be a string, got {value!r}; quote it in YAML")
        elif not value_re.match(value):
            extra = ' or be "*"' if selector else ""
            v.add(p, f"tag value {value!r} must consist of alphanumeric characters, dots, dashes, colons and "
                     f"underscores{extra}")
    if require_service and SERVICE_TAG not in tags:
        v.add(key(path, SERVICE_TAG), f'tag has to exist: add {SERVICE_TAG}: <service name>')


DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def zone_name_problem(name: object) -> str:
    """'' if `name` is a valid zone name (a DNS-1123 label, as Kuma's), else why not."""
    if not isinstance(name, str) or not name:
        return "is required: the name of the zone"
    if len(name) > 63 or not DNS_LABEL.match(name):
        return ("must be a DNS-1123 label: at most 63 characters of lowercase letters, digits and '-', "
                "starting and ending with a letter or digit (e.g. zone-1)")
    return ""
