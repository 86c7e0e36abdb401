"""Data sources: where a backend reads a certificate, key, token or password.

Exactly one of:
- `secret`: the name of a mesh-scoped Secret;
- `file`: a path on the control plane's host;
- `inline`: base64 bytes;
- `inlineString`: plain text.

Errors name the field and the source, never the value.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from .errors import DataSourceError
from .resources import Resource

DATA_SOURCE_KEYS = ("file", "secret", "inline", "inlineString")

# Finds a mesh-scoped secret: (mesh, name) -> Resource or None.
SecretLookup = Callable[[str, str], Resource | None]


def describe(ds: object) -> str:
    """A safe description for errors and logs: 'secret "x"', 'file "/p"', 'inline value'."""
    if not isinstance(ds, dict):
        return "data source"
    if "secret" in ds:
        return f'secret "{ds["secret"]}"'
    if "file" in ds:
        return f'file "{ds["file"]}"'
    if "inline" in ds:
        return "inline value"
    if "inlineString" in ds:
        return "inlineString value"
    return "empty data source"


def present_keys(ds: dict[str, Any]) -> list[str]:
    return [k for k in DATA_SOURCE_KEYS if k in ds and ds[k] not in (None, "")]


def resolve(ds: object, field_path: str, mesh: str, lookup: SecretLookup | None) -> bytes:
    """Read a data source. `field_path` is where it sits in the mesh, for errors."""
    if not isinstance(ds, dict):
        raise DataSourceError(field_path, "must be a data source: one of file, secret, inline or inlineString")
    keys = present_keys(ds)
    if len(keys) != 1:
        raise DataSourceError(field_path, "must have exactly one of file, secret, inline or inlineString")
    key = keys[0]
    value = ds[key]
    if key == "inlineString":
        return str(value).encode()
    if key == "inline":
        try:
            return base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise DataSourceError(f"{field_path}.inline",
                                  "is not valid base64; use inlineString for plain text") from None
    if key == "file":
        try:
            with open(str(value), "rb") as f:
                return f.read()
        except OSError as e:
            raise DataSourceError(f"{field_path}.file", f'cannot read file "{value}": {e.strerror or e}') from None
    # secret
    if lookup is None:
        raise DataSourceError(f"{field_path}.secret", f'secret "{value}" cannot be resolved here (no secret store)')
    res = lookup(mesh, str(value))
    if res is None:
        raise DataSourceError(
            f"{field_path}.secret",
            f'secret "{value}" not found in mesh "{mesh}"; create it with PUT /meshes/{mesh}/secrets/{value}',
        )
    try:
        return res.secret_bytes()
    except (binascii.Error, ValueError):
        raise DataSourceError(f"{field_path}.secret", f'secret "{value}" holds data that is not valid base64') from None


def resolve_text(ds: object, field_path: str, mesh: str, lookup: SecretLookup | None) -> str:
    raw = resolve(ds, field_path, mesh, lookup)
    try:
        return raw.decode().strip()
    except UnicodeDecodeError:
        raise DataSourceError(field_path, f"{describe(ds)} is not UTF-8 text") from None
