"""Make an ACTIVE root certificate authority in ACM Private CA (or the
simulator, `mzsim acmpca serve`) for a mesh's `acmpca` backend. One function
shared by `mzsim acmpca setup`, the demo and the tests:

1. CreateCertificateAuthority (ROOT), then wait for PENDING_CERTIFICATE;
2. GetCertificateAuthorityCsr (polled while AWS is still making the key);
3. IssueCertificate of that CSR with the RootCACertificate/V1 template;
4. GetCertificate (polled while RequestInProgressException);
5. ImportCertificateAuthorityCertificate: the CA is then ACTIVE.

Blocking (boto3): from async code, call it with asyncio.to_thread.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from common.backoff import backoff_delay
from common.ca.acmpca.backend import SIGNING_ALGORITHMS
from common.ca.acmpca.client import classify, failure_error, make_client
from common.errors import BackendError

Progress = Callable[[str], None]
WAIT_SECONDS = 60.0


@dataclass
class SetupResult:
    arn: str
    root_pem: str
    region: str
    endpoint_url: str

    def mesh_doc(self, mesh: str = "default", *, backend: str = "acmpca-1", expiration: str = "24h",
                 access_key_secret: str = "", secret_key_secret: str = "", ca_cert_secret: str = "") -> dict:
        """A Universal Mesh using this CA; credentials from the named mesh
        secrets when given, else the default AWS credential chain."""
        conf: dict = {"arn": self.arn, "commonName": '{{ tag "kuma.io/service" }}.mesh'}
        if ca_cert_secret:
            conf["caCert"] = {"secret": ca_cert_secret}
        if access_key_secret and secret_key_secret:
            conf["auth"] = {"awsCredentials": {"accessKey": {"secret": access_key_secret},
                                               "accessKeySecret": {"secret": secret_key_secret}}}
        return {"type": "Mesh", "name": mesh, "mtls": {"enabledBackend": backend, "backends": [
            {"name": backend, "type": "acmpca", "dpCert": {"rotation": {"expiration": expiration}}, "conf": conf}]}}


class _Caller:
    """Calls with AWS's transient answers retried (jittered backoff) until a deadline."""

    def __init__(self, client, wait: float):
        self.client, self.wait = client, wait
        self.endpoint = client.meta.endpoint_url

    def __call__(self, operation: str, method: str, **params) -> dict:
        deadline = time.monotonic() + self.wait
        attempt = 0
        while True:
            try:
                return getattr(self.client, method)(**params)
            except Exception as e:  # noqa: BLE001 - classified below; unknown ones re-raise
                failure = classify(e, self.endpoint)
                if failure is None:
                    raise
                if not failure.retryable or failure.code == "unreachable" or time.monotonic() >= deadline:
                    raise failure_error(failure, operation, self.endpoint) from None
            time.sleep(backoff_delay(attempt, 0.05, 1.0))
            attempt += 1


def setup_acmpca(endpoint_url: str | None = None, region: str = "us-east-1", *,
                 common_name: str = "mzsim ACM PCA root", key_algorithm: str = "RSA_2048",
                 validity_days: int = 3650, access_key: str | None = None, secret_key: str | None = None,
                 ca_cert: str | None = None, wait: float = WAIT_SECONDS,
                 progress: Progress | None = None) -> SetupResult:
    """Create an ACTIVE root CA; raises BackendError quoting AWS."""
    say = progress or (lambda _m: None)
    signing = SIGNING_ALGORITHMS.get(key_algorithm)
    if signing is None:
        raise BackendError(f"key algorithm {key_algorithm!r} is not one of {', '.join(SIGNING_ALGORITHMS)}",
                           retryable=False, field_path="key_algorithm")
    client = make_client(region, endpoint_url=endpoint_url, access_key=access_key, secret_key=secret_key,
                         verify=ca_cert or None, attempts=1)
    try:
        call = _Caller(client, wait)
        arn = call("CreateCertificateAuthority", "create_certificate_authority",
                   CertificateAuthorityType="ROOT", IdempotencyToken=uuid.uuid4().hex,
                   CertificateAuthorityConfiguration={"KeyAlgorithm": key_algorithm, "SigningAlgorithm": signing,
                                                      "Subject": {"CommonName": common_name}},
                   )["CertificateAuthorityArn"]
        say(f"created certificate authority {arn}")
        _wait_pending(call, arn, wait)
        csr = call("GetCertificateAuthorityCsr", "get_certificate_authority_csr", CertificateAuthorityArn=arn)["Csr"]
        partition = arn.split(":", 2)[1]
        cert_arn = call("IssueCertificate", "issue_certificate", CertificateAuthorityArn=arn, Csr=csr.encode(),
                        SigningAlgorithm=signing, Validity={"Type": "DAYS", "Value": validity_days},
                        TemplateArn=f"arn:{partition}:acm-pca:::template/RootCACertificate/V1",
                        IdempotencyToken=uuid.uuid4().hex)["CertificateArn"]
        root_pem = call("GetCertificate", "get_certificate", CertificateAuthorityArn=arn,
                        CertificateArn=cert_arn)["Certificate"].strip() + "\n"
        say("signed the CA's certificate with the RootCACertificate/V1 template")
        call("ImportCertificateAuthorityCertificate", "import_certificate_authority_certificate",
             CertificateAuthorityArn=arn, Certificate=root_pem.encode())
        status = _status(call, arn)
        if status != "ACTIVE":
            raise BackendError(f"certificate authority {arn} is {status} after importing its certificate, "
                               "not ACTIVE", retryable=False)
        say("imported the certificate: the CA is ACTIVE")
        return SetupResult(arn, root_pem, region, client.meta.endpoint_url)
    finally:
        client.close()


def _status(call: _Caller, arn: str) -> str:
    resp = call("DescribeCertificateAuthority", "describe_certificate_authority", CertificateAuthorityArn=arn)
    return resp["CertificateAuthority"]["Status"]


def _wait_pending(call: _Caller, arn: str, wait: float) -> None:
    """AWS makes the CA's key first (CREATING); the CSR exists from PENDING_CERTIFICATE."""
    deadline = time.monotonic() + wait
    attempt = 0
    while (status := _status(call, arn)) == "CREATING":
        if time.monotonic() >= deadline:
            raise BackendError(f"certificate authority {arn} is still CREATING after {wait:.0f}s", retryable=True)
        time.sleep(backoff_delay(attempt, 0.1, 2.0))
        attempt += 1
    if status != "PENDING_CERTIFICATE":
        raise BackendError(f"certificate authority {arn} is {status}, expected PENDING_CERTIFICATE", retryable=False)
