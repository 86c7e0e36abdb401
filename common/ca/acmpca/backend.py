"""The `acmpca` backend: data plane certificates from AWS Certificate Manager
Private CA (`IssueCertificate`, then `GetCertificate`).

- Region and partition come from `conf.arn`; the endpoint from the standard
  AWS_ENDPOINT_URL_ACM_PCA / AWS_ENDPOINT_URL variables (botocore reads them),
  or AcmpcaSettings.endpoint_url (config key backends.acmpca.endpoint_url).
- Credentials from `conf.auth.awsCredentials` data sources, re-read before each
  call (a new key in the secret takes effect without a restart), else the
  default AWS credential chain. `conf.caCert` verifies the endpoint's TLS.
- boto3 blocks: calls run on this backend's own threads, at most `concurrency`
  at a time (backends.acmpca.concurrency, default 8).
- Throttling is retried in the call with jittered backoff, then reported as
  retryable. An IssueCertificate keeps one idempotency token over its retries,
  and a certificate issued whose GetCertificate failed is fetched again on the
  next issue() of the same identity instead of being issued twice.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ...backoff import backoff_delay
from ...errors import BackendError
from ...x509util import Identity, IssuedCert, build_csr, csr_to_pem, generate_key, key_to_pem, split_chain
from ..base import BackendContext, CABackend
from ..private_files import PrivateFiles
from .client import Failure, classify, failure_error, is_region, make_client, parse_arn, region_mismatch

log = logging.getLogger("mzsim.ca.acmpca")

PENDING_KEEP_SECONDS = 300.0  # AWS keeps an idempotency token for 5 minutes
# The CA's key algorithm -> the SigningAlgorithm IssueCertificate must use.
SIGNING_ALGORITHMS = {
    "RSA_2048": "SHA256WITHRSA", "RSA_3072": "SHA256WITHRSA", "RSA_4096": "SHA256WITHRSA",
    "EC_prime256v1": "SHA256WITHECDSA", "EC_secp384r1": "SHA384WITHECDSA", "EC_secp521r1": "SHA512WITHECDSA",
    "SM2": "SM3WITHSM2",
}


# (URI SANs, common name, lifetime) of an issue() call.
_PendingKey = tuple[tuple[str, ...], str, float]


@dataclass
class _Pending:
    """An issued certificate not fetched yet, with the key it was issued for."""

    certificate_arn: str
    key_pem: str
    since: float


def _extended(err: BackendError, more: str) -> BackendError:
    field_path = err.causes[0].field if err.causes else ""
    return BackendError(f"{err.message}; {more}", retryable=err.retryable, field_path=field_path)


class AcmPcaBackend(CABackend):
    type_name = "acmpca"

    def __init__(self, mesh: str, spec: dict[str, Any], ctx: BackendContext) -> None:
        super().__init__(mesh, spec, ctx)
        self.arn: str = self.conf.get("arn") or ""
        parsed = parse_arn(self.arn)
        self.partition = parsed.partition if parsed else "aws"
        self.region = parsed.region if parsed else ""
        self.opts = ctx.settings.acmpca
        self.endpoint_url: str | None = self.opts.endpoint_url or None
        self.concurrency = max(1, self.opts.concurrency)
        self._sem = asyncio.Semaphore(self.concurrency)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"acmpca-{mesh}-{self.name}")
        self._files = PrivateFiles("acmpca")
        self._client: Any = None  # a boto3 acm-pca client (untyped)
        self._client_fp: bytes = b""
        self._retired: list[Any] = []
        self._client_lock = asyncio.Lock()
        self._ca: tuple[float, str] | None = None  # (when, SigningAlgorithm) of an ACTIVE CA
        self._roots: tuple[float, list[str]] | None = None
        self._pending: dict[_PendingKey, _Pending] = {}
        self._closed = False
        self._metrics_init()

    # -- fields and metrics ---------------------------------------------------
    def _field(self, rel: str) -> str:
        return f"{self.conf_path}.{rel}"

    def _metrics_init(self) -> None:
        m = self.ctx.metrics
        self._throttles = None
        if m is None:
            return
        self._throttles = m.counter(
            "mzsim_acmpca_throttles_total", "ACM PCA calls answered with throttling",
            ("mesh", "backend", "operation"))

    def _count_throttle(self, operation: str) -> None:
        if self._throttles is not None:
            self._throttles.inc(mesh=self.mesh, backend=self.name, operation=operation)

    # -- the client -------------------------------------------------------------
    def _check_arn(self) -> None:
        if not self.arn:
            raise BackendError("is required: the ARN of the private CA", retryable=False,
                               field_path=self._field("arn"))
        if not is_region(self.region):
            raise BackendError(
                f'the ARN names region "{self.region}", which is not an AWS region: put the CA\'s real ARN '
                "(aws acm-pca list-certificate-authorities, or `mzsim acmpca setup`)",
                retryable=False, field_path=self._field("arn"))

    def warnings(self) -> list[str]:
        mismatch = region_mismatch(self.region, os.environ) if is_region(self.region) else ""
        return [mismatch] if mismatch else []

    def _read_settings(self) -> tuple[str | None, str | None, bytes | None]:
        creds = (self.conf.get("auth") or {}).get("awsCredentials") or {}
        access = secret = None
        if creds:
            access = self.read_text(creds.get("accessKey"), "auth.awsCredentials.accessKey")
            secret = self.read_text(creds.get("accessKeySecret"), "auth.awsCredentials.accessKeySecret")
            for value, rel in ((access, "accessKey"), (secret, "accessKeySecret")):
                if not value:
                    raise BackendError("is empty: put the AWS credential in it", retryable=False,
                                       field_path=self._field(f"auth.awsCredentials.{rel}"))
        ca = self.read(self.conf["caCert"], "caCert") if self.conf.get("caCert") else None
        return access, secret, ca

    async def _get_client(self) -> Any:
        if self._closed:
            raise BackendError(f"acmpca backend {self.name} of mesh {self.mesh} is closed", retryable=False)
        self._check_arn()
        access, secret, ca = self._read_settings()
        fp = hashlib.sha256(repr((access, secret, ca)).encode()).digest()  # never logged
        async with self._client_lock:
            if self._client is None or fp != self._client_fp:
                verify = self._files.write(ca) if ca else None
                build = functools.partial(
                    make_client, self.region, endpoint_url=self.endpoint_url, access_key=access, secret_key=secret,
                    verify=verify, pool_size=self.concurrency, timeout=self.opts.timeout_seconds)
                old, self._client = self._client, await asyncio.get_running_loop().run_in_executor(self._pool, build)
                self._client_fp = fp
                self._ca = None
                log.info("acmpca %s of mesh %s: client for %s in %s (%s credentials)", self.name, self.mesh,
                         self._client.meta.endpoint_url, self.region, "configured" if access else "default chain")
                if old is None:
                    for w in self.warnings():
                        log.warning("acmpca %s of mesh %s: %s", self.name, self.mesh, w)
                if old is not None:  # calls in flight may still use it: closed with the backend
                    self._retired.append(old)
            return self._client

    @property
    def endpoint(self) -> str:
        return self._client.meta.endpoint_url if self._client is not None else (self.endpoint_url or "AWS")

    def _error(self, f: Failure, operation: str) -> BackendError:
        return failure_error(f, operation, self.endpoint, arn_field=self._field("arn"),
                             auth_field=self._field("auth"), ca_cert_field=self._field("caCert"))

    # -- one call -----------------------------------------------------------------
    async def _call(self, operation: str, method: str, **params: Any) -> dict[str, Any]:
        """One API call, retried while throttled. Raises BackendError."""
        client = await self._get_client()
        attempts = max(1, self.opts.throttle_attempts)
        loop = asyncio.get_running_loop()
        failure: Failure | None = None
        for attempt in range(attempts):
            async with self._sem:
                start = time.monotonic()
                try:
                    call = functools.partial(getattr(client, method), **params)
                    result = await loop.run_in_executor(self._pool, call)
                except Exception as e:  # noqa: BLE001 - classified below; unknown ones re-raise
                    failure = classify(e, self.endpoint)
                    if failure is None:
                        raise
                    self.observe_request(operation, failure.code, time.monotonic() - start)
                else:
                    self.observe_request(operation, "ok", time.monotonic() - start)
                    return result
            if not failure.throttled:
                raise self._error(failure, operation)
            self._count_throttle(operation)
            log.debug("acmpca %s of mesh %s: %s throttled (attempt %d of %d)", self.name, self.mesh, operation,
                      attempt + 1, attempts)
            if attempt + 1 < attempts:
                await asyncio.sleep(backoff_delay(attempt, self.opts.backoff_base_seconds,
                                                  self.opts.backoff_cap_seconds))
        assert failure is not None  # attempts >= 1, and each one that did not return or raise was throttled
        raise _extended(self._error(failure, operation), f"still throttled after {attempts} attempts")

    # -- the CA -------------------------------------------------------------------
    async def _signing_algorithm(self) -> str:
        """The SigningAlgorithm matching the CA's key; the CA must be ACTIVE."""
        cached = self._ca
        if cached and time.monotonic() - cached[0] < self.opts.describe_cache_seconds:
            return cached[1]
        resp = await self._call("DescribeCertificateAuthority", "describe_certificate_authority",
                                CertificateAuthorityArn=self.arn)
        ca = resp.get("CertificateAuthority") or {}
        status = ca.get("Status", "")
        if status != "ACTIVE":
            reason = f" ({ca['FailureReason']})" if ca.get("FailureReason") else ""
            raise BackendError(
                f"certificate authority {self.arn} is {status}{reason}, not ACTIVE: AWS issues only from an "
                "ACTIVE CA; enable it (aws acm-pca update-certificate-authority --status ACTIVE) or import its "
                "certificate", retryable=False, field_path=self._field("arn"))
        key_algorithm = (ca.get("CertificateAuthorityConfiguration") or {}).get("KeyAlgorithm", "RSA_2048")
        algorithm = SIGNING_ALGORITHMS.get(key_algorithm)
        if algorithm is None:
            raise BackendError(f"certificate authority {self.arn} has key algorithm {key_algorithm}, which mzsim "
                               f"cannot sign for; use one of {', '.join(SIGNING_ALGORITHMS)}",
                               retryable=False, field_path=self._field("arn"))
        self._ca = (time.monotonic(), algorithm)
        return algorithm

    def _validity(self, lifetime_seconds: float) -> dict[str, str | int]:
        seconds = max(1, math.ceil(lifetime_seconds))
        if seconds % 86400 == 0:  # AWS counts DAYS from the moment it issues: exact
            return {"Type": "DAYS", "Value": seconds // 86400}
        return {"Type": "ABSOLUTE", "Value": math.ceil(time.time() + seconds)}

    # -- issuing --------------------------------------------------------------------
    async def issue(self, identity: Identity, lifetime_seconds: float) -> IssuedCert:
        common_name = self.common_name(identity)
        pending_key = (tuple(identity.uri_sans()), common_name, float(lifetime_seconds))
        self._drop_stale_pending()
        pending = self._pending.get(pending_key)
        if pending is not None:  # issued before, GetCertificate failed: fetch only
            return await self._fetch(pending_key, pending)
        algorithm = await self._signing_algorithm()
        key_pem, csr_pem = await asyncio.get_running_loop().run_in_executor(
            self._pool, self._key_and_csr, identity, common_name)
        try:
            resp = await self._call(
                "IssueCertificate", "issue_certificate", CertificateAuthorityArn=self.arn, Csr=csr_pem.encode(),
                SigningAlgorithm=algorithm, Validity=self._validity(lifetime_seconds),
                TemplateArn=f"arn:{self.partition}:acm-pca:::template/EndEntityCertificate/V1",
                IdempotencyToken=uuid.uuid4().hex)  # one per issue(): its retries cannot issue twice
        except BackendError as e:
            if not e.retryable:
                self._ca = None  # describe again next time: the CA may have changed
            raise
        pending = _Pending(resp["CertificateArn"], key_pem, time.monotonic())
        self._pending[pending_key] = pending
        return await self._fetch(pending_key, pending)

    def _key_and_csr(self, identity: Identity, common_name: str) -> tuple[str, str]:
        key = generate_key(self.ctx.dp_key_type)
        return key_to_pem(key), csr_to_pem(build_csr(identity, key, common_name))

    async def _fetch(self, pending_key: _PendingKey, pending: _Pending) -> IssuedCert:
        """GetCertificate, polled while AWS is still issuing or briefly failing."""
        deadline = time.monotonic() + self.opts.get_wait_seconds
        attempt = 0
        while True:
            try:
                resp = await self._call("GetCertificate", "get_certificate", CertificateAuthorityArn=self.arn,
                                        CertificateArn=pending.certificate_arn)
                break
            except BackendError as e:
                if not e.retryable:
                    self._pending.pop(pending_key, None)
                    raise
                if time.monotonic() >= deadline:
                    raise _extended(e, f"certificate {pending.certificate_arn} was issued but not fetched yet: "
                                       "the next attempt fetches it without issuing again") from None
            await asyncio.sleep(min(backoff_delay(attempt, 0.05, 1.0), max(0.0, deadline - time.monotonic())))
            attempt += 1
        self._pending.pop(pending_key, None)
        intermediates, roots = split_chain([resp.get("CertificateChain") or ""])
        if not roots:
            roots = await self.root_certs()
        else:
            self._roots = (time.monotonic(), roots)
        leaf = resp["Certificate"].strip() + "\n"
        return IssuedCert(leaf + "".join(intermediates), pending.key_pem, roots, backend=self.name)

    def _drop_stale_pending(self) -> None:
        now = time.monotonic()
        for k in [k for k, p in self._pending.items() if now - p.since > PENDING_KEEP_SECONDS]:
            del self._pending[k]

    async def root_certs(self) -> list[str]:
        cached = self._roots
        if cached and time.monotonic() - cached[0] < self.opts.roots_cache_seconds:
            return list(cached[1])
        resp = await self._call("GetCertificateAuthorityCertificate", "get_certificate_authority_certificate",
                                CertificateAuthorityArn=self.arn)
        _, roots = split_chain([resp.get("Certificate") or "", resp.get("CertificateChain") or ""])
        self._roots = (time.monotonic(), roots)
        return list(roots)

    async def close(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        self._pool.shutdown(wait=False, cancel_futures=True)
        for c in [client, *self._retired]:
            if c is not None:
                c.close()
        self._retired.clear()
        self._files.remove_all()


Backend = AcmPcaBackend
