"""Configuration: dataclass defaults, overridden by a YAML file, overridden by
MZSIM_* environment variables, overridden by command-line flags.

A field `kds.heartbeat_interval` is `kds: {heartbeat_interval: ...}` in YAML
and MZSIM_KDS_HEARTBEAT_INTERVAL in the environment. Durations accept Kuma's
notation (500ms, 5s, 1m)."""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from typing import Any, TypeVar

import yaml

from .durations import parse_duration
from .errors import BadRequest

_DURATION_HINT = "duration"

T = TypeVar("T")


def duration_field(default: float, help_text: str = "") -> Any:
    """A float of seconds that also accepts '5s', '500ms' in files and env."""
    return dataclasses.field(default=default, metadata={"kind": _DURATION_HINT, "help": help_text})


def _coerce(value: Any, f: dataclasses.Field[Any], hint: Any, where: str) -> Any:
    try:
        if f.metadata.get("kind") == _DURATION_HINT:
            return parse_duration(value)
        origin = typing.get_origin(hint)
        if hint is bool:
            if isinstance(value, bool):
                return value
            s = str(value).strip().lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{value!r} is not a boolean (use true or false)")
        if hint is int:
            return int(value)
        if hint is float:
            return float(value)
        if hint is str:
            return str(value)
        if origin in (list, tuple, frozenset, set) or hint in (list, frozenset):
            items = value if isinstance(value, (list, tuple, set, frozenset)) else [
                v.strip() for v in str(value).split(",") if v.strip()]
            return (origin or hint)(items) if origin not in (None,) else list(items)
        if origin is typing.Union or origin is types.UnionType:
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            if value is None or value == "":
                return None
            return _coerce(value, f, args[0], where)
    except (ValueError, TypeError) as e:
        raise BadRequest(f"configuration {where}: {e}") from None
    return value


def _apply(obj: Any, data: dict[str, Any], prefix: str, source: str) -> None:
    hints = typing.get_type_hints(type(obj))
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise BadRequest(f"configuration {source}: unknown key {prefix}{key!r}; known keys: {known}")
        f = fields[name]
        current = getattr(obj, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise BadRequest(f"configuration {source}: {prefix}{key} must be a mapping")
            _apply(current, value, f"{prefix}{key}.", source)
        else:
            setattr(obj, name, _coerce(value, f, hints[name], f"{source} {prefix}{key}"))


def _env_overrides(obj: Any, env: dict[str, str], prefix: str = "MZSIM_") -> None:
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        current = getattr(obj, f.name)
        var = prefix + f.name.upper()
        if dataclasses.is_dataclass(current):
            _env_overrides(current, env, var + "_")
        elif var in env:
            setattr(obj, f.name, _coerce(env[var], f, hints[f.name], f"environment {var}"))


def load(cls: type[T], path: str | None = None, env: dict[str, str] | None = None,
         overrides: dict[str, Any] | None = None) -> T:
    """Build config `cls`: defaults < YAML file < MZSIM_* env < explicit overrides."""
    cfg = cls()
    if path:
        try:
            with open(path) as fh:
                data = yaml.safe_load(fh) or {}
        except OSError as e:
            raise BadRequest(f"cannot read configuration file {path}: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise BadRequest(f"configuration file {path} is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise BadRequest(f"configuration file {path} must hold a mapping")
        _apply(cfg, data, "", path)
    _env_overrides(cfg, dict(os.environ if env is None else env))
    if overrides:
        _apply(cfg, {k: v for k, v in overrides.items() if v is not None}, "", "command line")
    return cfg


def as_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
