"""Field paths and shape checks shared by every validator.

Paths follow Kuma's notation: `mtls.backends[0].conf`, `tags["kuma.io/service"]`.
Each check records a violation in a `Violations` collector and returns whether
the value had the expected shape, so callers can skip deeper checks without
stopping: a user sees every problem at once.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import Violations

# A shape check: (violations, value, path) -> whether the value had the shape.
ShapeCheck = Callable[[Violations, Any, str], bool]


def field(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{json.dumps(k)}]"


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_mapping(v: Violations, value: Any, path: str, what: str = "a mapping") -> bool:
    if isinstance(value, dict):
        return True
    v.add(path, f"must be {what}, got {type_name(value)}")
    return False


def check_list(v: Violations, value: Any, path: str) -> bool:
    if isinstance(value, list):
        return True
    v.add(path, f"must be a list, got {type_name(value)}")
    return False


def check_str(v: Violations, value: Any, path: str) -> bool:
    if isinstance(value, str):
        return True
    v.add(path, f"must be a string, got {type_name(value)}")
    return False


def check_bool(v: Violations, value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return True
    v.add(path, f"must be true or false, got {type_name(value)}")
    return False


def check_known(v: Violations, obj: dict, path: str, allowed: Iterable[str]) -> None:
    """Reject fields the schema does not know, naming the ones it does."""
    allowed = tuple(allowed)
    for k in obj:
        if k not in allowed:
            v.add(field(path, str(k)), f"unknown field; remove it (known fields: {', '.join(allowed)})")


def optional(v: Violations, obj: dict[str, Any], name: str, path: str, check: ShapeCheck) -> bool:
    """Run `check(v, value, path)` when `name` is set; True if absent or valid."""
    if name not in obj:
        return True
    return check(v, obj[name], field(path, name))


def required_str(v: Violations, obj: dict, name: str, path: str, hint: str) -> str | None:
    """A non-empty string field; `hint` says what to put there."""
    p = field(path, name)
    value = obj.get(name)
    if value is None or value == "":
        v.add(p, f"is required: {hint}")
        return None
    if not check_str(v, value, p):
        return None
    return value


def one_of(v: Violations, value: Any, path: str, allowed: Iterable[str]) -> bool:
    allowed = tuple(allowed)
    if isinstance(value, str) and value in allowed:
        return True
    v.add(path, f"has invalid value {value!r}; use one of {', '.join(allowed)}")
    return False


def check_port(v: Violations, value: Any, path: str) -> bool:
    if is_int(value) and 1 <= value <= 65535:
        return True
    v.add(path, f"port must be in the range [1, 65535], got {value!r}")
    return False
