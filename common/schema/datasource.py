"""Static checks of a data source (no I/O: secrets and files are not read).

A data source has exactly one of `file`, `secret`, `inline` (base64) or
`inlineString`. Messages never quote inline values: they may be secrets.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from ..datasource import DATA_SOURCE_KEYS
from ..errors import Violations
from .names import name_error
from .shape import check_known, field, type_name

_CHOOSE = "set exactly one of " + ", ".join(DATA_SOURCE_KEYS)


def check_data_source(v: Violations, ds: Any, path: str) -> None:
    if not isinstance(ds, dict):
        v.add(path, f"must be a data source ({_CHOOSE}), got {type_name(ds)}")
        return
    check_known(v, ds, path, DATA_SOURCE_KEYS)
    chosen = [k for k in DATA_SOURCE_KEYS if k in ds]
    if not chosen:
        v.add(path, f"data source has to be chosen: {_CHOOSE}")
        return
    if len(chosen) > 1:
        v.add(path, f"has {' and '.join(chosen)}: {_CHOOSE}")
    for k in chosen:
        _check_value(v, k, ds[k], field(path, k))


def _check_value(v: Violations, kind: str, value: Any, path: str) -> None:
    if value is None or value == "":
        v.add(path, "cannot be empty")
        return
    if not isinstance(value, str):
        v.add(path, f"must be a string, got {type_name(value)}")
        return
    if kind == "secret":
        err = name_error(value)
        if err:
            v.add(path, f"must name a Secret of this mesh: {err}")
    elif kind == "inline":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            v.add(path, "is not valid base64; encode the value (base64 -w0) or use inlineString for plain text")


def optional_data_source(v: Violations, obj: dict, name: str, path: str) -> None:
    if name in obj:
        check_data_source(v, obj[name], field(path, name))


def required_data_source(v: Violations, obj: dict, name: str, path: str, what: str) -> None:
    if obj.get(name) is None:
        v.add(field(path, name), f"is required: the {what}, as a data source ({_CHOOSE})")
    else:
        check_data_source(v, obj[name], field(path, name))
