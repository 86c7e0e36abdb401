"""builtin: global creates the CA once (secrets, RSAbits, expiration, keyType),
zones only read it; issued certificates verify with exact SANs and usages."""
from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.ca import registry
from common.errors import BackendError
from common.validation import validate_backend_conf
from common.x509util import Identity, load_certs, load_key, uri_sans_of, utcnow, verify_chain

from .helpers import builtin, context

IDENTITY = Identity("m1", "dp-1", {"kuma.io/service": ["web", "api"], "version": ["v1"], "kuma.io/zone": ["z1"]})


def backend(store, spec, environment="global", **kw):
    return registry.build("m1", spec, context(store, environment, **kw))


async def create_ca(store, spec):
    created = await backend(store, spec).ensure()
    store.apply(created, [])
    return created


async def test_ensure_creates_the_ca_secrets_once(store):
    spec = builtin("ca-1")
    created = await create_ca(store, spec)
    assert sorted(r.name for r in created) == ["m1.ca-builtin-cert-ca-1", "m1.ca-builtin-key-ca-1"]
    assert {(r.kind, r.mesh) for r in created} == {("Secret", "m1")}
    cert = load_certs(store.get("Secret", "m1.ca-builtin-cert-ca-1", "m1").secret_bytes())[0]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert uri_sans_of(cert) == ["spiffe://m1"]
    assert await backend(store, spec).ensure() == []  # idempotent: the CA exists


@pytest.mark.parametrize("ca_cert, key_class, size", [
    ({"keyType": "ec"}, ec.EllipticCurvePrivateKey, 256),
    ({"keyType": "rsa", "RSAbits": 3072}, rsa.RSAPrivateKey, 3072),
    ({}, rsa.RSAPrivateKey, 2048),  # Kuma's default: RSA 2048
])
async def test_key_type_and_rsa_bits_are_honoured(store, ca_cert, key_class, size):
    spec = {"name": "ca-1", "type": "builtin", "conf": {"caCert": ca_cert}}
    created = {r.name: r for r in await backend(store, spec).ensure()}
    key = load_key(created["m1.ca-builtin-key-ca-1"].secret_bytes())
    assert isinstance(key, key_class) and key.key_size == size


async def test_expiration_is_honoured(store):
    created = {r.name: r for r in await backend(store, builtin("ca-1", expiration="2d")).ensure()}
    cert = load_certs(created["m1.ca-builtin-cert-ca-1"].secret_bytes())[0]
    assert abs(cert.not_valid_after_utc - (utcnow() + dt.timedelta(days=2))) < dt.timedelta(minutes=1)


async def test_zones_never_create_a_ca(store):
    with pytest.raises(BackendError, match="only global creates the CA"):
        await backend(store, builtin("ca-1"), environment="universal").ensure()


async def test_zone_without_the_ca_secret_fails_retryably(store):
    with pytest.raises(BackendError) as err:
        await backend(store, builtin("ca-1"), environment="universal").issue(IDENTITY, 3600)
    assert err.value.retryable
    assert 'secret "m1.ca-builtin-cert-ca-1" not found in mesh "m1"' in err.value.message


@pytest.mark.parametrize("dp_key_type", ["ec", "rsa"])
async def test_issued_certificate_verifies_with_exact_sans_and_usages(store, dp_key_type):
    spec = builtin("ca-1")
    spec["conf"]["commonName"] = '{{ tag "kuma.io/service" }}.mesh'
    await create_ca(store, spec)
    zone = backend(store, spec, environment="universal", dp_key_type=dp_key_type)
    issued = await zone.issue(IDENTITY, 3600)
    roots = await zone.root_certs()
    chain = verify_chain(issued.cert_pem, issued.ca_pems)
    assert issued.ca_pems == roots and len(chain) == 2
    leaf = issued.leaf
    assert uri_sans_of(leaf) == ["spiffe://m1/api", "spiffe://m1/web", "kuma://kuma.io/service/api",
                                 "kuma://kuma.io/service/web", "kuma://kuma.io/zone/z1", "kuma://version/v1"]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "api.mesh"
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (ku.digital_signature, ku.key_encipherment, ku.key_cert_sign, ku.key_agreement) == (True, True, False, False)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = load_key(issued.key_pem)
    assert isinstance(key, ec.EllipticCurvePrivateKey if dp_key_type == "ec" else rsa.RSAPrivateKey)
    assert abs((leaf.not_valid_after_utc - utcnow()).total_seconds() - 3600) < 60
    assert issued.backend == "ca-1"


async def test_without_common_name_the_subject_is_empty_and_sans_critical(store):
    await create_ca(store, builtin("ca-1"))
    leaf = (await backend(store, builtin("ca-1"), environment="universal").issue(IDENTITY, 600)).leaf
    assert len(leaf.subject) == 0
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical


async def test_parsed_ca_is_cached_until_the_secret_changes(store):
    await create_ca(store, builtin("ca-1"))
    zone = backend(store, builtin("ca-1"), environment="universal")
    first = zone.loaded_ca()
    assert zone.loaded_ca() is first
    # Global makes a new CA (e.g. the mesh was deleted and recreated): the zone signs with it.
    store.apply([], [("Secret", "m1", "m1.ca-builtin-cert-ca-1"), ("Secret", "m1", "m1.ca-builtin-key-ca-1")])
    await create_ca(store, builtin("ca-1"))
    assert zone.loaded_ca() is not first
    issued = await zone.issue(IDENTITY, 600)
    verify_chain(issued.cert_pem, [zone.loaded_ca().cert_pem])


async def test_leaf_outliving_the_ca_is_a_clear_error(store):
    await create_ca(store, builtin("ca-1", expiration="1h"))
    with pytest.raises(BackendError, match="after the CA expires.*shorten dpCert.rotation.expiration"):
        await backend(store, builtin("ca-1"), environment="universal").issue(IDENTITY, 86400)


def test_conf_rules_come_from_the_type():
    assert not validate_backend_conf("builtin", {"caCert": {"keyType": "ec"}}, "mtls.backends[0].conf")
    found = validate_backend_conf("builtin", {"caCert": {"keyType": "ec", "RSAbits": 4096}}, "mtls.backends[0].conf")
    assert [v.field for v in found] == ["mtls.backends[0].conf.caCert.RSAbits"]
