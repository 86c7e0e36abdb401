"""provided: the user's CA from data sources; rejected unless it is a CA with
keyCertSign, without keyAgreement, matching its key."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from common.ca import registry
from common.errors import BackendError, DataSourceError, error_text
from common.resources import secret
from common.validation import validate_backend_conf
from common.x509util import Identity, uri_sans_of, verify_chain

from .helpers import ca_pair, context, inline, provided

IDENTITY = Identity("m1", "dp-1", {"kuma.io/service": ["web"]})


def backend(store, spec):
    return registry.build("m1", spec, context(store, "universal"))


async def test_good_ca_from_secrets_issues_verifiable_certificates(store):
    cert, key = ca_pair(key_type="rsa")
    store.apply([secret("ca-cert", cert, "m1"), secret("ca-key", key, "m1")], [])
    b = backend(store, provided("ca-2", {"secret": "ca-cert"}, {"secret": "ca-key"}))
    assert await b.ensure() == []
    issued = await b.issue(IDENTITY, 600)
    verify_chain(issued.cert_pem, await b.root_certs())
    assert issued.ca_pems == [cert]
    assert uri_sans_of(issued.leaf) == ["spiffe://m1/web", "kuma://kuma.io/service/web"]


@pytest.mark.parametrize("flaws, field, words", [
    ({"ca": False}, "cert", "is not a CA (basicConstraints CA=true is missing)"),
    ({"key_cert_sign": False}, "cert", "lacks the keyCertSign key usage"),
    ({"key_usage": False}, "cert", "lacks the keyCertSign key usage"),
    ({"key_agreement": True}, "cert", "has the keyAgreement key usage"),
])
async def test_bad_ca_certificates_are_rejected(store, flaws, field, words):
    cert, key = ca_pair(**flaws)
    b = backend(store, provided("ca-2", inline(cert), inline(key)))
    for call in (b.ensure(), b.issue(IDENTITY, 600)):
        with pytest.raises(BackendError) as err:
            await call
        assert not err.value.retryable
        assert error_text(err.value).startswith(f"mtls.backends[ca-2].conf.{field}: ")
        assert words in err.value.message


async def test_key_of_another_ca_is_rejected(store):
    cert, _ = ca_pair()
    _, other_key = ca_pair()
    with pytest.raises(BackendError) as err:
        await backend(store, provided("ca-2", inline(cert), inline(other_key))).ensure()
    assert error_text(err.value).startswith("mtls.backends[ca-2].conf.key: the private key does not belong")


async def test_a_key_that_cannot_sign_is_rejected_naming_the_field(store):
    cert, _ = ca_pair()
    key = x25519.X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(BackendError) as err:
        await backend(store, provided("ca-2", inline(cert), inline(key))).ensure()
    assert not err.value.retryable
    assert error_text(err.value).startswith("mtls.backends[ca-2].conf.key: holds a key of type X25519PrivateKey, "
                                            "which cannot sign certificates")


async def test_not_pem_is_rejected_naming_the_field(store):
    cert, key = ca_pair()
    with pytest.raises(BackendError, match="holds no PEM certificate"):
        await backend(store, provided("ca-2", inline("hello"), inline(key))).ensure()
    with pytest.raises(BackendError, match="holds no unencrypted PEM private key") as err:
        await backend(store, provided("ca-2", inline(cert), inline("hello"))).ensure()
    assert "hello" not in str(err.value)


async def test_missing_secret_names_the_field(store):
    with pytest.raises(DataSourceError) as err:
        await backend(store, provided("ca-2", {"secret": "nope"}, {"secret": "nope-key"})).ensure()
    assert err.value.field == "mtls.backends[ca-2].conf.cert.secret"
    assert 'secret "nope" not found in mesh "m1"' in str(err.value)


def test_conf_rules_come_from_the_type():
    found = validate_backend_conf("provided", {"cert": {"secret": "x"}}, "mtls.backends[1].conf")
    assert [v.field for v in found] == ["mtls.backends[1].conf.key"]
