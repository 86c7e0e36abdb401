"""Kubernetes label syntax, which Kuma requires of every resource's labels."""
from __future__ import annotations

import re
from typing import Any

from ..errors import Violations
from .shape import key, type_name

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MAX_LABELS = 64


def check_labels(v: Violations, labels: Any, path: str) -> bool:
    """A mapping of string keys (`[prefix/]name`) to string values, both in Kubernetes syntax."""
    if not isinstance(labels, dict):
        v.add(path, f"must be a mapping of label keys to string values, got {type_name(labels)}")
        return False
    if len(labels) > MAX_LABELS:
        v.add(path, f"has {len(labels)} labels; at most {MAX_LABELS} are accepted")
        return False
    ok = True
    for k, value in labels.items():
        if not isinstance(k, str):
            v.add(path, f"keys must be strings, got {type_name(k)}")
            ok = False
            continue
        p = key(path, k[:80])
        prefix, _, name = k.rpartition("/")
        if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
            v.add(p, "the key's prefix must be a DNS subdomain of at most 253 characters (e.g. kuma.io)")
            ok = False
        if len(name) > 63 or not _NAME.match(name):
            v.add(p, "the key's name must be at most 63 characters: alphanumerics, '-', '_' or '.', "
                     "starting and ending with an alphanumeric")
            ok = False
        if not isinstance(value, str):
            v.add(p, f"must be a string, got {type_name(value)}; quote it")
            ok = False
        elif value and (len(value) > 63 or not _NAME.match(value)):
            v.add(p, "the value must be at most 63 characters: alphanumerics, '-', '_' or '.', "
                     "starting and ending with an alphanumeric")
            ok = False
    return ok
