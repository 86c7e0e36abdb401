"""boto3 clients for ACM Private CA and the translation of their errors, shared
by the acmpca backend and the setup helper (mzsim/setup/acmpca.py).

botocore retries are off (`total_max_attempts: 1`; `max_attempts: 1` still
retries once): callers retry themselves with jittered backoff, so throttling is
counted and a retried IssueCertificate keeps its idempotency token.

The endpoint is botocore's own choice unless given: the standard
AWS_ENDPOINT_URL_ACM_PCA or AWS_ENDPOINT_URL variables, else AWS itself.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from ...errors import BackendError

THROTTLE_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException",
                            "RequestLimitExceeded"})
_TRANSIENT_CODES = frozenset({"RequestInProgressException", "InternalFailure", "InternalServerError",
                              "ServiceUnavailable", "RequestTimeout"})
_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):acm-pca:(?P<region>[^:]*):(?P<account>[^:]*):"
                  r"certificate-authority/(?P<id>[A-Za-z0-9_-]+)$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


@dataclass(frozen=True)
class CaArn:
    partition: str
    region: str
    account: str


def parse_arn(arn: str) -> CaArn | None:
    m = _ARN.match(arn or "")
    return CaArn(m["partition"], m["region"], m["account"]) if m else None


def is_region(name: str) -> bool:
    return bool(_REGION.match(name or ""))


def region_mismatch(arn_region: str, environ: Mapping[str, str]) -> str:
    """Why AWS_REGION / AWS_DEFAULT_REGION do not apply ("" if they agree or are unset)."""
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        env = environ.get(var, "")
        if env:
            return "" if env == arn_region else (
                f'{var} is "{env}", but the CA\'s ARN names region "{arn_region}": calls go to "{arn_region}" '
                f"(the region of conf.arn), and {var} is ignored")
    return ""


def make_client(region: str, *, endpoint_url: str | None = None, access_key: str | None = None,
                secret_key: str | None = None, verify: str | bool | None = None, pool_size: int = 8,
                timeout: float = 10.0, attempts: int = 1) -> Any:
    """A thread-safe acm-pca client. Without keys, the default AWS credential
    chain applies (environment, config files, IRSA, instance role)."""
    session = boto3.session.Session(aws_access_key_id=access_key or None,
                                    aws_secret_access_key=secret_key or None, region_name=region)
    config = Config(retries={"total_max_attempts": attempts, "mode": "standard"}, max_pool_connections=pool_size,
                    connect_timeout=timeout, read_timeout=timeout)
    return session.client("acm-pca", endpoint_url=endpoint_url or None, verify=verify, config=config)


@dataclass(frozen=True)
class Failure:
    """One failed call, classified. `code` is AWS's error code, or a word of ours
    ("unreachable", "tls", "credentials") when AWS never answered."""

    code: str
    message: str
    retryable: bool

    @property
    def throttled(self) -> bool:
        return self.code in THROTTLE_CODES


def _reason(exc: BaseException) -> str:
    """The innermost cause of a botocore/urllib3 error, without object reprs."""
    seen: BaseException = exc
    for _ in range(5):
        inner = getattr(seen, "__cause__", None) or getattr(seen, "__context__", None)
        if not isinstance(inner, BaseException):
            break
        seen = inner
    text = str(seen) or str(exc)
    if text.startswith("<") and ">: " in text:  # "<urllib3.connection.HTTPSConnection object at 0x..>: "
        text = text.split(">: ", 1)[1]
    return text


def classify(exc: BaseException, endpoint: str) -> Failure | None:
    """A Failure for botocore's exceptions; None for anything else."""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error") or {}
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
        code = err.get("Code") or f"HTTP{status}"
        message = err.get("Message") or f"HTTP {status} without an error message"
        retryable = code in THROTTLE_CODES or code in _TRANSIENT_CODES or status >= 500
        return Failure(code, message, retryable)
    if isinstance(exc, botocore.exceptions.SSLError):
        return Failure("tls", f"TLS verification of ACM PCA endpoint {endpoint} failed: {_reason(exc)}", False)
    if isinstance(exc, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        return Failure("unreachable", f"ACM PCA endpoint {endpoint} is unreachable: {_reason(exc)}", True)
    if isinstance(exc, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return Failure("credentials", f"no usable AWS credentials: {exc}", False)
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return Failure(type(exc).__name__, str(exc), False)
    return None


def failure_error(f: Failure, operation: str, endpoint: str, *, arn_field: str = "", auth_field: str = "",
                  ca_cert_field: str = "") -> BackendError:
    """A BackendError quoting AWS verbatim, blaming the field a user would change."""
    if f.code == "tls":
        hint = f"; set {ca_cert_field} to the CA that signed its certificate" if ca_cert_field else ""
        return BackendError(f.message + hint, retryable=False, field_path=ca_cert_field)
    if f.code == "unreachable":
        return BackendError(f.message, retryable=True)
    if f.code == "credentials":
        return BackendError(
            f"{f.message}; set {auth_field or 'auth.awsCredentials'} (accessKey and accessKeySecret), or give the "
            "control plane credentials through the default AWS chain (AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, a profile, IRSA or an instance role)",
            retryable=False, field_path=auth_field)
    field_path = ""
    if not f.retryable:
        denied = "AccessDenied" in f.code or f.code in ("UnrecognizedClientException", "InvalidSignatureException")
        field_path = auth_field if denied else arn_field
    return BackendError(f"{f.code}: {f.message} (ACM PCA {operation} at {endpoint})",
                        retryable=f.retryable, field_path=field_path)
