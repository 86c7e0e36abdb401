"""Zone (global-owned) and ZoneInsight (zone-owned, light checks)."""
from __future__ import annotations

from typing import Any

from ..errors import Violations
from ..schema.shape import check_bool, check_known, check_list, check_mapping, index, optional


def check_zone(v: Violations, spec: dict[str, Any]) -> None:
    check_known(v, spec, "", ("enabled",))
    optional(v, spec, "enabled", "", check_bool)


def check_zone_insight(v: Violations, spec: dict[str, Any]) -> None:
    if "subscriptions" in spec and check_list(v, spec["subscriptions"], "subscriptions"):
        for i, sub in enumerate(spec["subscriptions"]):
            check_mapping(v, sub, index("subscriptions", i))
