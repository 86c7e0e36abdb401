"""Failures reported as AWS words them: a missing CA, a CA that is not ACTIVE,
access denied, throttling (retried, then retryable), and what is checked
before any call."""
from __future__ import annotations

import boto3
import pytest

from common.errors import BackendError
from common.validation import validate_backend_conf
from common.x509util import Identity, verify_chain

from .conftest import MESH, SETUP_KEY, acmpca_spec, secret_auth

IDENT = Identity(MESH, "dp", {"kuma.io/service": ["api"]})


def pca(server):
    return boto3.client("acm-pca", region_name="us-east-1", endpoint_url=server.endpoint,
                        aws_access_key_id=SETUP_KEY, aws_secret_access_key="x")


def missing_arn(ca_arn: str) -> str:
    return ca_arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"


async def test_missing_ca_quotes_aws(acm, ca, creds, make_backend):
    creds()
    arn = missing_arn(ca.arn)
    backend = make_backend(acmpca_spec(arn, auth=secret_auth()), acm.endpoint)
    with pytest.raises(BackendError) as err:
        await backend.issue(IDENT, 600)
    assert err.value.message == (f"ResourceNotFoundException: Resource {arn} not found "
                                 f"(ACM PCA DescribeCertificateAuthority at {acm.endpoint})")
    assert err.value.retryable is False
    assert err.value.causes[0].field == "mtls.backends[acmpca-1].conf.arn"


async def test_disabled_ca_is_refused(acm, creds, make_backend):
    fresh = acm.setup_ca()
    creds()
    backend = make_backend(acmpca_spec(fresh.arn, auth=secret_auth()), acm.endpoint)
    await backend.issue(IDENT, 600)  # ACTIVE: the CA description is now cached
    pca(acm).update_certificate_authority(CertificateAuthorityArn=fresh.arn, Status="DISABLED")
    with pytest.raises(BackendError) as err:  # the server refuses, as AWS does
        await backend.issue(IDENT, 600)
    assert err.value.message == (f"InvalidStateException: The certificate authority {fresh.arn} is not in the correct "
                                 "state to have a certificate signing request. "
                                 f"(ACM PCA IssueCertificate at {acm.endpoint})")
    assert err.value.retryable is False
    with pytest.raises(BackendError) as err:  # described again: the status is named
        await backend.issue(IDENT, 600)
    assert err.value.message.startswith(f"certificate authority {fresh.arn} is DISABLED, not ACTIVE")
    pca(acm).update_certificate_authority(CertificateAuthorityArn=fresh.arn, Status="ACTIVE")
    verify_chain((await backend.issue(IDENT, 600)).cert_pem, [fresh.root_pem])


async def test_disabled_ca_is_refused_even_by_stock_moto(stock_moto, creds, make_backend):
    """Stock moto issues from a DISABLED CA; the backend checks the status itself."""
    from mzsim.setup.acmpca import setup_acmpca

    fresh = setup_acmpca(stock_moto.endpoint, access_key=SETUP_KEY, secret_key="x")
    creds()
    backend = make_backend(acmpca_spec(fresh.arn, auth=secret_auth()), stock_moto.endpoint)
    cert = await backend.issue(IDENT, 600)
    verify_chain(cert.cert_pem, [fresh.root_pem])
    pca(stock_moto).update_certificate_authority(CertificateAuthorityArn=fresh.arn, Status="DISABLED")
    fresh_backend = make_backend(acmpca_spec(fresh.arn, auth=secret_auth()), stock_moto.endpoint)
    with pytest.raises(BackendError) as err:
        await fresh_backend.issue(IDENT, 600)
    assert err.value.message.startswith(f"certificate authority {fresh.arn} is DISABLED, not ACTIVE")


async def test_access_denied_quotes_aws_and_blames_auth(acm, ca, creds, make_backend):
    creds()
    backend = make_backend(acmpca_spec(ca.arn, auth=secret_auth()), acm.endpoint)
    said = ("User: arn:aws:iam::123456789012:user/mesh is not authorized to perform: acm-pca:IssueCertificate "
            f"on resource: {ca.arn}")
    acm.fault("IssueCertificate", "AccessDeniedException", message=said)
    with pytest.raises(BackendError) as err:
        await backend.issue(IDENT, 600)
    assert err.value.message == f"AccessDeniedException: {said} (ACM PCA IssueCertificate at {acm.endpoint})"
    assert err.value.retryable is False
    assert err.value.causes[0].field == "mtls.backends[acmpca-1].conf.auth"


async def test_throttling_is_retried_with_backoff(acm, ca, creds, make_backend, metrics):
    creds()
    backend = make_backend(acmpca_spec(ca.arn, auth=secret_auth()), acm.endpoint)
    acm.fault("IssueCertificate", "ThrottlingException", count=2)
    cert = await backend.issue(IDENT, 600)
    verify_chain(cert.cert_pem, [ca.root_pem])
    throttles = metrics.counter("mzsim_acmpca_throttles_total", "", ("mesh", "backend", "operation"))
    assert throttles.value(mesh=MESH, backend="acmpca-1", operation="IssueCertificate") == 2


async def test_throttling_that_lasts_is_a_retryable_error(acm, ca, creds, make_backend, metrics):
    creds()
    backend = make_backend(acmpca_spec(ca.arn, auth=secret_auth()), acm.endpoint, throttle_attempts=3)
    acm.fault("IssueCertificate", "ThrottlingException", count=100)
    with pytest.raises(BackendError) as err:
        await backend.issue(IDENT, 600)
    assert err.value.retryable is True
    assert err.value.message == (f"ThrottlingException: Rate exceeded (ACM PCA IssueCertificate at {acm.endpoint}); "
                                 "still throttled after 3 attempts")
    throttles = metrics.counter("mzsim_acmpca_throttles_total", "", ("mesh", "backend", "operation"))
    assert throttles.value(mesh=MESH, backend="acmpca-1", operation="IssueCertificate") == 3


async def test_placeholder_region_fails_before_any_call(acm, make_backend):
    arn = "arn:aws:acm-pca:region:account:certificate-authority/12345678-1234-1234-1234-123456789012"
    backend = make_backend(acmpca_spec(arn), acm.endpoint)
    acm.clear_requests()
    with pytest.raises(BackendError) as err:
        await backend.issue(IDENT, 600)
    assert err.value.retryable is False
    assert err.value.message.startswith('the ARN names region "region", which is not an AWS region')
    assert acm.requests() == []


def test_conf_rules_come_from_the_type():
    assert not validate_backend_conf("acmpca", {"arn": "arn:aws:acm-pca:us-east-1:1:certificate-authority/x"}, "c")
    conf = {"arn": "nope", "auth": {"awsCredentials": {"accessKey": {"inline": "QQ=="}}}}
    bad = validate_backend_conf("acmpca", conf, "c")
    assert {v.field for v in bad} == {"c.arn", "c.auth.awsCredentials.accessKeySecret"}
