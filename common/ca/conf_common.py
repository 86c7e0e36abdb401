"""Checks shared by several backend types."""
from __future__ import annotations

from typing import Any

from ..errors import Violations
from ..schema.shape import check_str, field
from .templates import template_error


def check_common_name(v: Violations, obj: dict[str, Any], path: str) -> None:
    """Optional `commonName` template: text with {{ tag "NAME" }} directives."""
    if "commonName" not in obj:
        return
    p = field(path, "commonName")
    if check_str(v, obj["commonName"], p):
        err = template_error(obj["commonName"])
        if err:
            v.add(p, err)
