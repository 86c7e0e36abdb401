"""Secret and GlobalSecret: `data` holds the base64 value. Messages never quote it."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from ..errors import Violations
from ..schema.shape import check_known


def check_secret(v: Violations, spec: dict[str, Any]) -> None:
    check_known(v, spec, "", ("data",))
    data = spec.get("data")
    if data is None or data == "":
        v.add("data", "cannot be empty: set the base64-encoded secret value")
        return
    if not isinstance(data, str):
        v.add("data", "must be a base64-encoded string")
        return
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        v.add("data", "must be base64-encoded: encode the value, e.g. with base64 -w0")
        return
    if not raw:
        v.add("data", "cannot be empty: the decoded value has no bytes")
