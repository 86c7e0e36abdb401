"""The `provided` backend: the user's own CA certificate and key, from the data
sources `conf.cert` and `conf.key`.

The pair is checked when global prepares the mesh (`ensure`) and whenever new
bytes are read before issuing: the certificate must be a CA (basicConstraints
CA=true) with keyCertSign, without keyAgreement, and must match the key.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from ...errors import BackendError
from ...resources import Resource
from ...x509util import public_keys_match
from ..localca import LocalCABackend

_Ext = TypeVar("_Ext", bound=x509.ExtensionType)


def _extension(cert: x509.Certificate, kind: type[_Ext]) -> _Ext | None:
    """The value of the certificate's extension of class `kind`, or None."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


class ProvidedBackend(LocalCABackend):
    type_name = "provided"

    def _ca_source(self) -> tuple[tuple[bytes, bytes], Callable[[], tuple[bytes, bytes]]]:
        cert_pem = self.read(self.conf.get("cert"), "cert")
        key_pem = self.read(self.conf.get("key"), "key")
        return (cert_pem, key_pem), lambda: (cert_pem, key_pem)

    def _check(self, cert: x509.Certificate, key: CertificateIssuerPrivateKeyTypes) -> None:
        cert_field, key_field = self._source_fields()

        def reject(message: str, where: str = cert_field) -> NoReturn:
            raise BackendError(message, retryable=False, field_path=where)

        basic = _extension(cert, x509.BasicConstraints)
        if basic is None or not basic.ca:
            reject("the certificate is not a CA (basicConstraints CA=true is missing); supply a CA "
                   "certificate, or use a builtin backend")
        usage = _extension(cert, x509.KeyUsage)
        if usage is None or not usage.key_cert_sign:
            reject("the CA certificate lacks the keyCertSign key usage, so it cannot sign certificates; "
                   "reissue it with keyUsage keyCertSign (and cRLSign)")
        if usage.key_agreement:
            reject("the CA certificate has the keyAgreement key usage, which a signing CA must not have; "
                   "reissue it without keyAgreement")
        if not public_keys_match(cert, key):
            reject("the private key does not belong to the certificate in conf.cert; supply the key of "
                   "that CA", key_field)

    async def ensure(self) -> list[Resource]:
        self.loaded_ca()
        return []


Backend = ProvidedBackend
