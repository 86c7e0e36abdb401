"""Data sources: where a backend reads a certificate, key, token or password.

Exactly one of:
- `secret`: the name of a mesh-scoped Secret;
- `file`: a path on the control plane's host;
- `inline`: base64 bytes;
- `inlineString`: plain text.

Errors name the field and the source, never the value, and every value read
is remembered by common/redact so that no error or log line can quote it.

A `file` must be a regular file no larger than `limits.file_max_bytes`; it is
opened without blocking (a FIFO cannot hang the open) and read on a worker
thread that the caller waits on for at most `limits.file_timeout`.
"""
from __future__ import annotations

import base64
import binascii
import concurrent.futures
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import redact
from .config import duration_field
from .errors import DataSourceError
from .resources import Resource

DATA_SOURCE_KEYS = ("file", "secret", "inline", "inlineString")

# Finds a mesh-scoped secret: (mesh, name) -> Resource or None.
SecretLookup = Callable[[str, str], Resource | None]


@dataclass
class DataSourceLimits:
    """`datasource:` in both processes' configuration."""

    file_max_bytes: int = 1024 * 1024
    file_timeout: float = duration_field(2.0, "give up reading a file data source after this long")


limits = DataSourceLimits()
_readers = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="datasource-file")


def configure(new: DataSourceLimits) -> None:
    """Set the process's limits (at startup, from its configuration)."""
    global limits
    limits = new


def _read_regular(path: str, max_bytes: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _NotRegular()
        if st.st_size > max_bytes:
            raise _TooBig()
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise _TooBig()
        return data
    finally:
        if fd >= 0:
            os.close(fd)


class _NotRegular(Exception):
    pass


class _TooBig(Exception):
    pass


def read_file(path: str, field_path: str) -> bytes:
    """A bounded read of a regular file. Errors name the field and the path, never content."""
    if not path or "\0" in path:
        raise DataSourceError(field_path, "must be the path of a regular file")
    future = _readers.submit(_read_regular, path, limits.file_max_bytes)
    try:
        return future.result(timeout=limits.file_timeout)
    except concurrent.futures.TimeoutError:
        raise DataSourceError(field_path, f'reading file "{path}" took longer than {limits.file_timeout:g}s '
                                          "(datasource.file_timeout)") from None
    except _NotRegular:
        raise DataSourceError(field_path, f'file "{path}" is not a regular file; '
                                          "point it at a file holding the value") from None
    except _TooBig:
        raise DataSourceError(field_path, f'file "{path}" is larger than {limits.file_max_bytes} bytes '
                                          "(datasource.file_max_bytes)") from None
    except OSError as e:
        raise DataSourceError(field_path, f'cannot read file "{path}": {e.strerror or type(e).__name__}') from None


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
    value = _resolve(ds, field_path, mesh, lookup)
    redact.remember(value)
    return value


def _resolve(ds: object, field_path: str, mesh: str, lookup: SecretLookup | None) -> bytes:
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
        return read_file(str(value), f"{field_path}.file")
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
