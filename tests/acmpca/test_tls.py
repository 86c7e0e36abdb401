"""`conf.caCert` verifies the endpoint's TLS certificate (the launcher over HTTPS)."""
from __future__ import annotations

import pytest

from common.errors import BackendError
from common.x509util import Identity, cert_to_pem, make_ca, verify_chain

from .conftest import MESH, acmpca_spec, secret_auth

IDENT = Identity(MESH, "dp", {"kuma.io/service": ["tls"]})


@pytest.fixture(scope="module")
def tls_ca(acm_tls):
    return acm_tls.setup_ca()


async def test_right_ca_cert_verifies_the_endpoint(acm_tls, tls_ca, creds, secrets, make_backend):
    creds()
    with open(acm_tls.ca_file) as f:
        secrets.put(MESH, "acm-ca", f.read())
    backend = make_backend(acmpca_spec(tls_ca.arn, auth=secret_auth(), caCert={"secret": "acm-ca"}),
                           acm_tls.endpoint)
    cert = await backend.issue(IDENT, 600)
    verify_chain(cert.cert_pem, [tls_ca.root_pem])


@pytest.mark.parametrize("which", ["wrong CA", "no caCert"])
async def test_unverifiable_endpoint_fails_clearly(acm_tls, tls_ca, creds, make_backend, which):
    creds()
    conf = {}
    if which == "wrong CA":
        other, _ = make_ca("not the endpoint's CA", key_type="ec")
        conf["caCert"] = {"inlineString": cert_to_pem(other)}
    backend = make_backend(acmpca_spec(tls_ca.arn, auth=secret_auth(), **conf), acm_tls.endpoint)
    with pytest.raises(BackendError) as err:
        await backend.issue(IDENT, 600)
    assert err.value.retryable is False
    assert err.value.message.startswith(f"TLS verification of ACM PCA endpoint {acm_tls.endpoint} failed: ")
    assert "certificate verify failed" in err.value.message
    assert err.value.message.endswith("; set mtls.backends[acmpca-1].conf.caCert to the CA that signed its "
                                      "certificate")
