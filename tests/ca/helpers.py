"""Helpers for CA backend tests: CA certificates with chosen flaws, meshes,
and global's builtin CA creation into a real Store."""
from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from common.ca.base import BackendContext
from common.resources import Resource
from common.store import Store
from common.x509util import cert_to_pem, generate_key, key_to_pem, utcnow


def ca_pair(*, ca: bool = True, key_cert_sign: bool = True, key_agreement: bool = False,
            key_usage: bool = True, key_type: str = "ec") -> tuple[str, str]:
    """(certificate PEM, key PEM) of a self-signed certificate with the given flags."""
    key = generate_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    now = utcnow()
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
         .not_valid_after(now + dt.timedelta(days=365))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if key_usage:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=False, content_commitment=False, data_encipherment=False,
            key_agreement=key_agreement, key_cert_sign=key_cert_sign, crl_sign=key_cert_sign,
            encipher_only=False, decipher_only=False), critical=True)
    cert = b.sign(key, hashes.SHA256())
    return cert_to_pem(cert), key_to_pem(key)


def inline(text: str) -> dict:
    return {"inlineString": text}


def mesh(name: str, *backends: dict, enabled: str | None = None) -> Resource:
    mtls = {"backends": list(backends)}
    if enabled or backends:
        mtls["enabledBackend"] = enabled or backends[0]["name"]
    return Resource("Mesh", name, None, {"mtls": mtls})


def builtin(name: str = "ca-1", *, lifetime: str | None = None, **ca_cert) -> dict:
    spec: dict = {"name": name, "type": "builtin", "conf": {"caCert": {"keyType": "ec", **ca_cert}}}
    if lifetime:
        spec["dpCert"] = {"rotation": {"expiration": lifetime}}
    return spec


def provided(name: str, cert: dict, key: dict, **conf) -> dict:
    return {"name": name, "type": "provided", "conf": {"cert": cert, "key": key, **conf}}


def context(store: Store, environment: str = "global", **kw) -> BackendContext:
    return BackendContext(secret_lookup=lambda m, n: store.get("Secret", n, m), environment=environment, **kw)


async def apply_on_global(store: Store, res: Resource, **kw) -> list[Resource]:
    """What global does on PUT /meshes: test issue, then store the mesh and the CA secrets."""
    from global_cp.mtls_check import prepare_mesh

    extra = await prepare_mesh(res, store.get("Mesh", res.name), context(store), **kw)
    store.apply([res] + extra, [])
    return extra
