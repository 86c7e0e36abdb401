"""`mzsim acmpca serve` at the API level: where it is honest about AWS and moto
is not, and its fault endpoint."""
from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.error

import pytest
from botocore.exceptions import ClientError
from cryptography import x509

from common.ca.acmpca.client import make_client
from common.x509util import Identity, build_csr, csr_to_pem, generate_key, utcnow, verify_chain

from .conftest import SETUP_KEY

END_ENTITY = "arn:aws:acm-pca:::template/EndEntityCertificate/V1"


@pytest.fixture(scope="module")
def pca(acm):
    return make_client("us-east-1", endpoint_url=acm.endpoint, access_key=SETUP_KEY, secret_key="x")  # no retries


def csr() -> bytes:
    return csr_to_pem(build_csr(Identity("m", "d", {"kuma.io/service": ["s"]}), generate_key("ec"))).encode()


def issue(pca, arn: str, **params) -> x509.Certificate:
    params.setdefault("SigningAlgorithm", "SHA256WITHECDSA")
    params.setdefault("Validity", {"Type": "DAYS", "Value": 1})
    cert_arn = pca.issue_certificate(CertificateAuthorityArn=arn, Csr=csr(), TemplateArn=END_ENTITY,
                                     **params)["CertificateArn"]
    pem = pca.get_certificate(CertificateAuthorityArn=arn, CertificateArn=cert_arn)["Certificate"]
    return x509.load_pem_x509_certificate(pem.encode())


def error_of(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_validity_forms(pca, ca):
    end = dt.datetime(2031, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    assert issue(pca, ca.arn, Validity={"Type": "END_DATE", "Value": 20310203040506}).not_valid_after_utc == end
    start = utcnow().replace(microsecond=0)
    got = issue(pca, ca.arn, Validity={"Type": "ABSOLUTE", "Value": int(start.timestamp()) + 90},
                ValidityNotBefore={"Type": "ABSOLUTE", "Value": int(start.timestamp())})
    assert (got.not_valid_before_utc, got.not_valid_after_utc) == (start, start + dt.timedelta(seconds=90))
    months = issue(pca, ca.arn, Validity={"Type": "MONTHS", "Value": 2}).not_valid_after_utc
    assert dt.timedelta(days=58) <= months - start <= dt.timedelta(days=63)


def test_idempotency_token_returns_the_same_certificate(pca, ca):
    def once():
        return pca.issue_certificate(CertificateAuthorityArn=ca.arn, Csr=csr(), TemplateArn=END_ENTITY,
                                     SigningAlgorithm="SHA256WITHECDSA", Validity={"Type": "DAYS", "Value": 1},
                                     IdempotencyToken="same-token")["CertificateArn"]
    assert once() == once()


def test_refusals(pca, ca):
    code, message = error_of(lambda: issue(pca, ca.arn, SigningAlgorithm="SHA256WITHRSA"))
    assert code == "InvalidArgsException" and "does not match the key algorithm EC_prime256v1" in message
    code, _ = error_of(lambda: pca.issue_certificate(
        CertificateAuthorityArn=ca.arn, Csr=b"not a csr", TemplateArn=END_ENTITY, SigningAlgorithm="SHA256WITHECDSA",
        Validity={"Type": "DAYS", "Value": 1}))
    assert code == "MalformedCSRException"  # stock moto: an HTML 500
    code, message = error_of(lambda: issue(pca, ca.arn, Validity={"Type": "YEARS", "Value": 50}))
    assert code == "ValidationException" and "exceeds the certificate authority validity" in message
    pending = pca.create_certificate_authority(
        CertificateAuthorityType="ROOT", CertificateAuthorityConfiguration={
            "KeyAlgorithm": "EC_prime256v1", "SigningAlgorithm": "SHA256WITHECDSA",
            "Subject": {"CommonName": "pending"}})["CertificateAuthorityArn"]
    code, _ = error_of(lambda: issue(pca, pending))
    assert code == "InvalidStateException"  # PENDING_CERTIFICATE: only its own root certificate may be issued


def test_fault_endpoint(acm, pca, ca):
    acm.fault("GetCertificate", "ServiceUnavailable", count=2)
    faults = json.loads(acm._open("GET", "/_faults"))["faults"]
    assert faults == [{"target": "ACMPrivateCA.GetCertificate", "code": "ServiceUnavailable", "count": 2,
                       "status": 503, "message": "ServiceUnavailable", "phase": "before"}]
    cert_arn = pca.issue_certificate(CertificateAuthorityArn=ca.arn, Csr=csr(), TemplateArn=END_ENTITY,
                                     SigningAlgorithm="SHA256WITHECDSA",
                                     Validity={"Type": "DAYS", "Value": 1})["CertificateArn"]
    for _ in range(2):
        code, _ = error_of(lambda: pca.get_certificate(CertificateAuthorityArn=ca.arn, CertificateArn=cert_arn))
        assert code == "ServiceUnavailable"
    got = pca.get_certificate(CertificateAuthorityArn=ca.arn, CertificateArn=cert_arn)
    verify_chain(got["Certificate"], [ca.root_pem])
    assert json.loads(acm._open("GET", "/_faults"))["faults"] == []
    with pytest.raises(urllib.error.HTTPError) as err:
        acm._open("POST", "/_faults", {"code": "ThrottlingException"})
    assert err.value.code == 400
    assert json.loads(err.value.read())["error"].startswith('a fault needs "target"')


def test_base64_csr_of_the_api_is_what_boto3_sends(pca, ca):
    """Csr is a blob: boto3 base64-encodes it and the server decodes it once."""
    assert base64.b64decode(base64.b64encode(csr())).startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
    assert issue(pca, ca.arn).issuer.rfc4514_string() == "CN=mzsim ACM PCA root"
