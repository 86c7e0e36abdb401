"""Turn hvac and requests exceptions into BackendError, quoting Vault verbatim.

Shared by the vault backend and the setup helper. Retryable: the server could
not be reached, is sealed or failed (5xx, 429); not retryable: Vault refused the
request (4xx) or TLS verification failed, which only a config change fixes.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import hvac.exceptions
import requests

from ...errors import BackendError

_RETRYABLE_STATUS = {429, 500, 502, 503}


def vault_messages(exc: hvac.exceptions.VaultError) -> str:
    """Vault's own error text: its `errors` list, else the body it sent."""
    errors = exc.errors
    if isinstance(errors, (list, tuple)) and errors:
        return "; ".join(str(e) for e in errors)
    if isinstance(errors, str) and errors:
        return errors
    text = (getattr(exc, "text", None) or "").strip()
    return text or type(exc).__name__


def _status_of(exc: hvac.exceptions.VaultError) -> int:
    for status, cls in _STATUS_CLASSES.items():
        if isinstance(exc, cls):
            return status
    return 0


_STATUS_CLASSES = {
    400: hvac.exceptions.InvalidRequest,
    401: hvac.exceptions.Unauthorized,
    403: hvac.exceptions.Forbidden,
    404: hvac.exceptions.InvalidPath,
    429: hvac.exceptions.RateLimitExceeded,
    500: hvac.exceptions.InternalServerError,
    501: hvac.exceptions.VaultNotInitialized,
    502: hvac.exceptions.BadGateway,
    503: hvac.exceptions.VaultDown,
}


def short_reason(exc: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, without object reprs."""
    seen: BaseException = exc
    for _ in range(5):
        inner = getattr(seen, "reason", None)
        if not isinstance(inner, BaseException) and seen.args and isinstance(seen.args[0], BaseException):
            inner = seen.args[0]
        if not isinstance(inner, BaseException) or inner is seen:
            break
        seen = inner
    text = str(seen)
    # urllib3 prefixes "<urllib3.connection.HTTPConnection object at 0x..>: "
    if text.startswith("<") and ">: " in text:
        text = text.split(">: ", 1)[1]
    return text


def _where(exc: hvac.exceptions.VaultError) -> str:
    method = (exc.method or "").upper()
    path = urlsplit(exc.url).path if exc.url else ""
    return f"{method} {path}".strip()


def to_backend_error(exc: BaseException, address: str, *, field_path: str = "", address_field: str = "",
                     tls_field: str = "") -> BackendError:
    """Map one exception to a BackendError; anything unknown is re-raised as is.
    `field_path` is blamed for Vault's answers, `address_field` for connection
    failures and `tls_field` for TLS failures."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, hvac.exceptions.VaultError):
        status = _status_of(exc)
        retryable = status in _RETRYABLE_STATUS or status == 0
        where = _where(exc)
        suffix = f" (vault {where} at {address})" if where else f" (vault at {address})"
        return BackendError(vault_messages(exc) + suffix, retryable=retryable, field_path=field_path)
    if isinstance(exc, requests.exceptions.SSLError):
        return BackendError(
            f"TLS connection to vault at {address} failed: {short_reason(exc)}; "
            "check fromCp.tls.caCert, fromCp.tls.serverName or fromCp.tls.skipVerify",
            retryable=False, field_path=tls_field or field_path,
        )
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return BackendError(
            f"vault at {address} could not be reached: {short_reason(exc)}",
            retryable=True, field_path=address_field or field_path,
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return BackendError(f"request to vault at {address} failed: {short_reason(exc)}",
                            retryable=True, field_path=address_field or field_path)
    raise exc
