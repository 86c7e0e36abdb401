"""The `builtin` backend: a CA that global creates and syncs to zones as secrets.

Global's `ensure()` makes the CA the first time a mesh uses the backend and
returns the secrets `{mesh}.ca-builtin-cert-{backend}` and
`{mesh}.ca-builtin-key-{backend}` for the caller to store with the mesh.
Zones only read those secrets; they never create a CA, so a missing secret is
a retryable error (it is on its way from global).

conf.caCert: `RSAbits` (default 2048) and `expiration` (default 10y) as in
Kuma, plus our `keyType: ec` for an EC P-256 CA.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from ...durations import parse_duration
from ...errors import BackendError
from ...resources import Resource, secret
from ...x509util import cert_to_pem, key_to_pem, make_ca
from ..localca import LocalCABackend
from . import ca_secret_names

DEFAULT_CA_EXPIRATION = "10y"
DEFAULT_RSA_BITS = 2048


class BuiltinBackend(LocalCABackend):
    type_name = "builtin"

    @property
    def secret_names(self) -> tuple[str, str]:
        return ca_secret_names(self.mesh, self.name)

    def _lookup(self, name: str) -> Resource | None:
        return self.ctx.secret_lookup(self.mesh, name) if self.ctx.secret_lookup else None

    def _source_fields(self) -> tuple[str, str]:
        cert_name, key_name = self.secret_names
        return f'secret "{cert_name}"', f'secret "{key_name}"'

    def _ca_source(self) -> tuple[tuple[object, object], Callable[[], tuple[bytes, bytes]]]:
        cert_name, key_name = self.secret_names
        cert_res, key_res = self._lookup(cert_name), self._lookup(key_name)
        if cert_res is None or key_res is None:
            missing = cert_name if cert_res is None else key_name
            raise BackendError(
                f'the CA of builtin backend "{self.name}" is not here yet: secret "{missing}" not found in '
                f'mesh "{self.mesh}"; global creates it when the mesh is applied and syncs it to zones',
                retryable=True)
        # The base64 texts identify the CA: compared as strings, decoded only on change.
        token = (cert_res.spec.get("data"), key_res.spec.get("data"))
        return token, lambda: (cert_res.secret_bytes(), key_res.secret_bytes())

    def _ca_settings(self) -> tuple[str, int, float]:
        ca = self.conf.get("caCert") or {}
        key_type = ca.get("keyType", "rsa")
        bits = int(ca.get("RSAbits") or DEFAULT_RSA_BITS)
        lifetime = parse_duration(ca.get("expiration") or DEFAULT_CA_EXPIRATION)
        return key_type, bits, lifetime

    async def ensure(self) -> list[Resource]:
        if self.ctx.environment != "global":
            raise BackendError(f'only global creates the CA of builtin backend "{self.name}"; '
                               "zones receive it as secrets", retryable=False)
        if all(self._lookup(n) is not None for n in self.secret_names):
            return []
        key_type, bits, lifetime = self._ca_settings()
        # An RSA 4096+ key takes seconds to generate: keep the event loop free.
        cert, key = await asyncio.to_thread(make_ca, self.mesh, key_type=key_type, rsa_bits=bits,
                                            lifetime_seconds=lifetime, uri_san=f"spiffe://{self.mesh}")
        cert_name, key_name = self.secret_names
        return [secret(cert_name, cert_to_pem(cert), self.mesh), secret(key_name, key_to_pem(key), self.mesh)]


Backend = BuiltinBackend
