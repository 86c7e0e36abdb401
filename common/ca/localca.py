"""What `builtin` and `provided` share: a CA certificate and key held by the
control plane itself, which signs data plane certificates directly (no CSR).

The parsed CA is cached against the raw bytes it came from, so issuing does
not re-parse PEM; new bytes (a new secret) are parsed and checked once.

Where the work runs (bench/issuance.py measures both): EC keys signed by an EC
CA are made on the event loop, about 0.25 ms, cheaper than a thread hop, and
threads add nothing there. RSA key generation (tens of milliseconds) and RSA
CA signatures release the GIL, so those go to threads: the loop stays
responsive and a second core helps. backends.localca.threads overrides.
"""
from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard, get_args

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PrivateKeyTypes

from ..errors import BackendError
from ..x509util import Identity, IssuedCert, cert_to_pem, generate_key, key_to_pem, load_certs, load_key, sign_identity
from .base import BackendContext, CABackend

# Kuma's DefaultAllowedClockSkew: leaves start this much in the past.
CLOCK_SKEW_SECONDS = 10.0
# The key classes a certificate can be signed with, as this cryptography version defines them.
_SIGNING_KEY_CLASSES = get_args(CertificateIssuerPrivateKeyTypes)


def _can_sign(key: PrivateKeyTypes) -> TypeGuard[CertificateIssuerPrivateKeyTypes]:
    """Whether `key` can sign certificates (X25519, X448 and DH keys cannot)."""
    return isinstance(key, _SIGNING_KEY_CLASSES)


@dataclass(frozen=True)
class LoadedCA:
    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes
    cert_pem: str


class LocalCABackend(CABackend):
    def __init__(self, mesh: str, spec: dict[str, Any], ctx: BackendContext) -> None:
        super().__init__(mesh, spec, ctx)
        self._cache: tuple[Any, LoadedCA] | None = None

    @abc.abstractmethod
    def _ca_source(self) -> tuple[Any, Callable[[], tuple[bytes, bytes]]]:
        """(cache token, a loader of (CA certificate PEM, CA key PEM)); the
        loader runs only when the token changed. Raises BackendError or
        DataSourceError when the CA cannot be read."""

    def _check(self, cert: x509.Certificate, key: CertificateIssuerPrivateKeyTypes) -> None:
        """Raise BackendError if this pair must not be used (provided checks it)."""

    def _parse(self, cert_pem: bytes, key_pem: bytes) -> LoadedCA:
        cert_field, key_field = self._source_fields()
        try:
            certs = load_certs(cert_pem)
        except ValueError:
            certs = []
        if not certs:
            raise BackendError("holds no PEM certificate; supply the CA certificate in PEM form",
                               retryable=False, field_path=cert_field)
        try:
            key = load_key(key_pem)
        except (ValueError, TypeError):
            raise BackendError("holds no unencrypted PEM private key; supply the CA key in PEM form "
                               "(PKCS#1, PKCS#8 or SEC1, without a passphrase)",
                               retryable=False, field_path=key_field) from None
        if not _can_sign(key):
            raise BackendError(f"holds a key of type {type(key).__name__}, which cannot sign certificates; supply an "
                               "RSA, EC, Ed25519 or Ed448 CA key", retryable=False, field_path=key_field)
        self._check(certs[0], key)
        return LoadedCA(certs[0], key, cert_to_pem(certs[0]))

    def _source_fields(self) -> tuple[str, str]:
        return f"{self.conf_path}.cert", f"{self.conf_path}.key"

    def loaded_ca(self) -> LoadedCA:
        token, load = self._ca_source()
        if self._cache is not None and self._cache[0] == token:
            return self._cache[1]
        ca = self._parse(*load())
        self._cache = (token, ca)
        return ca

    def _threaded(self, ca: LoadedCA) -> bool:
        setting = self.ctx.settings.localca.threads
        if setting is not None:
            return bool(setting)
        return self.ctx.dp_key_type != "ec" or isinstance(ca.key, rsa.RSAPrivateKey)

    def _sign(self, ca: LoadedCA, identity: Identity, lifetime_seconds: float) -> IssuedCert:
        key = generate_key(self.ctx.dp_key_type)
        try:
            leaf = sign_identity(identity, key.public_key(), ca.cert, ca.key, lifetime_seconds,
                                 common_name=self.common_name(identity),
                                 backdate_seconds=min(CLOCK_SKEW_SECONDS, lifetime_seconds / 10))
        except ValueError as e:  # the leaf would outlive the CA
            raise BackendError(f"{e}; shorten dpCert.rotation.expiration or renew the CA",
                               retryable=False) from None
        issued = IssuedCert(cert_to_pem(leaf), key_to_pem(key), [ca.cert_pem], backend=self.name)
        issued.leaf = leaf  # spare callers a PEM parse
        return issued

    async def issue(self, identity: Identity, lifetime_seconds: float) -> IssuedCert:
        ca = self.loaded_ca()
        if self._threaded(ca):
            return await asyncio.to_thread(self._sign, ca, identity, lifetime_seconds)
        return self._sign(ca, identity, lifetime_seconds)

    async def root_certs(self) -> list[str]:
        return [self.loaded_ca().cert_pem]
