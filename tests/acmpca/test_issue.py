"""Issuing from the launcher: chain, SANs, subject, exact lifetime, signing
algorithm, roots, metrics, and the idempotency and fetch-only retries."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from common.errors import BackendError
from common.x509util import Identity, load_key, public_keys_match, uri_sans_of, utcnow, verify_chain

from .conftest import MESH, acmpca_spec, secret_auth

IDENT = Identity(MESH, "web-1", {"kuma.io/service": ["web"], "version": ["v2"], "kuma.io/zone": ["z1"]})
AWS_BACKDATE = dt.timedelta(minutes=60)


@pytest.fixture
def backend(acm, ca, creds, make_backend):
    creds()
    return make_backend(acmpca_spec(ca.arn, auth=secret_auth(), commonName='{{ tag "kuma.io/service" }}.mesh'),
                        acm.endpoint)


async def test_certificate_chains_to_the_ca_with_exact_sans_and_lifetime(backend, ca):
    before = utcnow().replace(microsecond=0)
    cert = await backend.issue(IDENT, 5400)
    after = utcnow()
    assert cert.ca_pems == [ca.root_pem]
    chain = verify_chain(cert.cert_pem, [ca.root_pem])
    assert chain[-1].subject == chain[-1].issuer and len(chain) == 2
    assert uri_sans_of(cert.leaf) == IDENT.uri_sans()
    assert cert.leaf.subject.rfc4514_string() == "CN=web.mesh"
    # ABSOLUTE validity, to the second: issue time + 5400 s (rounded up to a whole second).
    assert before + dt.timedelta(seconds=5400) <= cert.not_after <= after + dt.timedelta(seconds=5401)
    # AWS backdates "not before" by 60 minutes for clock skew.
    assert before - AWS_BACKDATE <= cert.not_before <= after - AWS_BACKDATE
    assert isinstance(cert.leaf.public_key(), ec.EllipticCurvePublicKey)
    assert cert.leaf.signature_hash_algorithm.name == "sha256"  # SHA256WITHECDSA for an EC P-256 CA
    assert await backend.root_certs() == [ca.root_pem]


async def test_whole_days_are_exact_too(backend):
    start = utcnow().replace(microsecond=0)
    cert = await backend.issue(IDENT, 2 * 86400)
    assert start + dt.timedelta(days=2) <= cert.not_after <= utcnow() + dt.timedelta(days=2, seconds=1)


async def test_signing_algorithm_follows_the_ca_key_and_rsa_data_plane_keys(acm, creds, make_backend):
    rsa_ca = acm.setup_ca(key_algorithm="RSA_2048")
    creds()
    backend = make_backend(acmpca_spec(rsa_ca.arn, auth=secret_auth()), acm.endpoint, dp_key_type="rsa")
    cert = await backend.issue(IDENT, 600)
    verify_chain(cert.cert_pem, [rsa_ca.root_pem])
    assert cert.leaf.signature_hash_algorithm.name == "sha256"  # SHA256WITHRSA, not moto's SHA-512
    assert isinstance(cert.leaf.public_key(), rsa.RSAPublicKey)
    # No commonName template: the CSR has no subject, and the CA copies the first SAN in as CN;
    # the SANs stay exactly the identity's.
    assert cert.leaf.subject.rfc4514_string() == f"CN={IDENT.uri_sans()[0]}"
    assert sorted(uri_sans_of(cert.leaf)) == sorted(IDENT.uri_sans())


async def test_requests_are_timed_in_metrics(backend, metrics):
    await backend.issue(IDENT, 600)
    hist = metrics.histogram("mzsim_backend_request_seconds", "", ("backend_type", "mesh", "backend", "operation",
                                                                    "outcome"))
    labels = dict(backend_type="acmpca", mesh=MESH, backend="acmpca-1", outcome="ok")
    assert hist.count(operation="IssueCertificate", **labels) == 1
    assert hist.count(operation="GetCertificate", **labels) == 1


async def test_lost_issue_answer_is_retried_with_the_same_token_and_issues_once(acm, backend):
    await backend.issue(IDENT, 600)  # describe is cached from here on
    acm.clear_requests()
    # AWS issues, but the caller hears "throttled": the retry must not issue a second certificate.
    acm.fault("IssueCertificate", "ThrottlingException", phase="after")
    cert = await backend.issue(IDENT, 600)
    issued = [e for e in acm.requests("IssueCertificate") if not e["fault"]]
    assert len(issued) == 2
    assert issued[0]["certificate_arn"] == issued[1]["certificate_arn"]
    got = [e for e in acm.requests("GetCertificate") if not e["fault"]]
    assert len(got) == 1 and verify_chain(cert.cert_pem, cert.ca_pems)


async def test_get_polled_while_request_in_progress(acm, backend):
    await backend.issue(IDENT, 600)
    acm.clear_requests()
    acm.fault("GetCertificate", "RequestInProgressException", count=3, message="The request is still in progress.")
    await backend.issue(IDENT, 600)
    assert [e.get("error") for e in acm.requests("GetCertificate")] == ["RequestInProgressException"] * 3 + [None]


async def test_issued_but_not_fetched_is_fetched_later_without_issuing_again(acm, backend):
    await backend.issue(IDENT, 600)
    acm.clear_requests()
    acm.fault("GetCertificate", "InternalFailure", count=10_000, message="We encountered an internal error.")
    with pytest.raises(BackendError) as err:
        await backend.issue(IDENT, 600)
    assert err.value.retryable
    assert err.value.message.startswith("InternalFailure: We encountered an internal error. (ACM PCA GetCertificate")
    assert "was issued but not fetched yet" in err.value.message
    acm.clear_faults()
    started = time.monotonic()
    cert = await backend.issue(IDENT, 600)
    assert time.monotonic() - started < 2
    issued = acm.requests("IssueCertificate")
    assert len(issued) == 1, issued  # the second issue() only fetched
    verify_chain(cert.cert_pem, cert.ca_pems)
    assert public_keys_match(cert.leaf, load_key(cert.key_pem))  # the key the first attempt made
    assert uri_sans_of(cert.leaf) == IDENT.uri_sans()


def test_a_san_too_long_for_a_common_name_leaves_the_subject_empty():
    from common.x509util import build_csr, generate_key
    from mzsim.services.acmpca_moto import subject_of

    long = Identity(MESH, "dp", {"kuma.io/service": ["s" * 60]})
    assert subject_of(build_csr(long, generate_key("ec"))).rfc4514_string() == ""
    assert subject_of(build_csr(IDENT, generate_key("ec"), "web.mesh")).rfc4514_string() == "CN=web.mesh"
