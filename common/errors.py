"""Errors shared by global and zones, and Kuma's HTTP error shape.

Every user-facing error names the field that is wrong and says how to fix it.
The HTTP body is Kuma's current one (Kong AIP-193): {"type", "status", "title",
"detail", "instance", "invalid_parameters": [{"field", "reason"}]}, with the
deprecated {"details", "causes": [{"field", "message"}]} kept beside it for
older clients (Kuma does the same).
"""
from __future__ import annotations

import errno
import uuid
from dataclasses import dataclass, field
from typing import Any

from .redact import scrub


@dataclass(frozen=True)
class Violation:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class MzsimError(Exception):
    """Base class. `status` is the HTTP status the API answers with."""

    status = 500
    title = "Internal error"

    def __init__(self, details: str, causes: list[Violation] | None = None):
        details = scrub(details)  # common/redact: no value read from a data source in any error
        super().__init__(details)
        self.details = details
        self.causes = [Violation(c.field, scrub(c.message)) for c in causes or []]

    def body(self, instance: str = "") -> dict[str, Any]:
        return problem(self.status, self.title, self.details, self.causes, instance)

    def __str__(self) -> str:
        if not self.causes:
            return scrub(self.details)
        return scrub(self.details + ": " + "; ".join(str(c) for c in self.causes))


class ValidationError(MzsimError):
    status = 400
    title = "Could not process a resource"

    def __init__(self, causes: list[Violation], details: str = "Resource is not valid"):
        super().__init__(details, causes)


class BadRequest(MzsimError):
    status = 400
    title = "Bad request"


class NotFound(MzsimError):
    status = 404
    title = "Could not retrieve a resource"


class Conflict(MzsimError):
    status = 409
    title = "Conflict"


class Forbidden(MzsimError):
    status = 403
    title = "Access denied"


class TooLarge(MzsimError):
    status = 413
    title = "Request body too large"


class DataSourceError(MzsimError):
    """A data source (secret, file, inline, inlineString) could not be read.

    The message names the field and the source, never the value."""

    status = 400
    title = "Could not read a data source"

    def __init__(self, field_path: str, message: str):
        super().__init__(message, [Violation(field_path, message)])
        self.field = field_path


class BackendError(MzsimError):
    """A CA backend failed. `message` quotes the backend's own error verbatim.

    `retryable` tells the issuance engine whether backing off can help
    (outage, throttling) or the failure needs a config change (denied, bad role)."""

    status = 400
    title = "CA backend error"

    def __init__(self, message: str, *, retryable: bool = True, field_path: str = ""):
        message = scrub(message)
        super().__init__(message, [Violation(field_path, message)] if field_path else [])
        self.message = message
        self.retryable = retryable


ERROR_TYPE = "/std-errors"  # Kuma's AIP-193 `type`


def problem(status: int, title: str, detail: str, causes: list[Violation] | None = None,
            instance: str = "") -> dict[str, Any]:
    """An error body in the AIP-193 shape plus the deprecated fields. `instance`
    names this occurrence (a fresh id when not given), so a report can be matched to the log."""
    detail = scrub(detail)
    causes = causes or []
    return {
        "type": ERROR_TYPE,
        "status": status,
        "title": title,
        "detail": detail,
        "instance": instance or uuid.uuid4().hex,
        "invalid_parameters": [{"field": c.field, "reason": scrub(c.message)} for c in causes],
        "details": detail,  # deprecated: `detail`
        "causes": [{"field": c.field, "message": scrub(c.message)} for c in causes],  # deprecated
    }


@dataclass
class Violations:
    """Collects every violation, so a user sees them all at once."""

    items: list[Violation] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.items.append(Violation(path, message))

    def extend(self, other: Violations | list[Violation]) -> None:
        self.items.extend(other.items if isinstance(other, Violations) else other)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError(list(self.items))


def error_text(exc: BaseException) -> str:
    """One line for a user: the error's own words, prefixed with the field it
    names (BackendError and DataSourceError causes), never secret values."""
    if isinstance(exc, MzsimError):
        fielded = [str(c) for c in exc.causes if c.field]
        if fielded:
            return scrub("; ".join(fielded))
        return scrub(getattr(exc, "message", None) or exc.details)
    return scrub(str(exc)) or type(exc).__name__


class PortInUse(Exception):
    """A listening port is taken by another process; the command says which flag moves it."""

    def __init__(self, host: str, port: int):
        super().__init__(f"{host}:{port} is already in use")
        self.host, self.port = host, port


def bind_error(e: OSError, host: str, port: int) -> OSError | PortInUse:
    """The error to raise for a failed bind: PortInUse if the port is taken."""
    return PortInUse(host, port) if e.errno == errno.EADDRINUSE else e
