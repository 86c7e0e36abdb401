"""moto's ACM PCA, subclassed where it differs from AWS in ways mzsim's tests
depend on (moto 5.2.5; site-packages untouched):

- the CA key is decrypted once, not on every call (moto reloads it twice per
  issue: about 8 issue+get per second instead of about 100);
- `KeyAlgorithm` is honoured (moto always makes RSA 2048) and `SigningAlgorithm`
  picks the hash (moto always signs with SHA-512), refusing the wrong family;
- `Validity` and `ValidityNotBefore` are honoured (moto: 365 days), with AWS's
  default of backdating "not before" by 60 minutes;
- IssueCertificate from a CA that is not ACTIVE fails with
  InvalidStateException, except the CA's own RootCACertificate/V1 certificate;
- `IdempotencyToken` returns the same certificate for 5 minutes;
- a CSR that does not parse is a MalformedCSRException, not an HTML 500.

`install()` makes moto's acm-pca BackendDict build these classes; it must run
before the first request creates a backend.
"""
from __future__ import annotations

import base64
import binascii
import calendar
import datetime as dt
import json
import threading
import time
from types import SimpleNamespace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from moto.acmpca import models as moto_models
from moto.acmpca import urls as moto_urls
from moto.acmpca.exceptions import InvalidStateException
from moto.acmpca.responses import ACMPCAResponse
from moto.core.exceptions import JsonRESTError
from moto.moto_api._internal import mock_random
from moto.utilities.utils import get_partition

from common.x509util import generate_key

ROOT_TEMPLATE_SUFFIX = ":::template/RootCACertificate/V1"
IDEMPOTENCY_SECONDS = 300.0
DEFAULT_BACKDATE = dt.timedelta(minutes=60)

_KEYS = {
    "RSA_2048": lambda: generate_key("rsa", 2048),
    "RSA_3072": lambda: generate_key("rsa", 3072),
    "RSA_4096": lambda: generate_key("rsa", 4096),
    "EC_prime256v1": lambda: ec.generate_private_key(ec.SECP256R1()),
    "EC_secp384r1": lambda: ec.generate_private_key(ec.SECP384R1()),
    "EC_secp521r1": lambda: ec.generate_private_key(ec.SECP521R1()),
}
_SIGNING = {
    "SHA256WITHRSA": ("RSA", hashes.SHA256), "SHA384WITHRSA": ("RSA", hashes.SHA384),
    "SHA512WITHRSA": ("RSA", hashes.SHA512), "SHA256WITHECDSA": ("EC", hashes.SHA256),
    "SHA384WITHECDSA": ("EC", hashes.SHA384), "SHA512WITHECDSA": ("EC", hashes.SHA512),
}


class InvalidArgsException(JsonRESTError):
    code = 400

    def __init__(self, message: str):
        super().__init__("InvalidArgsException", message)


class ValidationException(JsonRESTError):
    code = 400

    def __init__(self, message: str):
        super().__init__("ValidationException", message)


class MalformedCSRException(JsonRESTError):
    code = 400

    def __init__(self) -> None:
        super().__init__("MalformedCSRException", "The certificate signing request is invalid.")


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _add_months(start: dt.datetime, months: int) -> dt.datetime:
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return start.replace(year=year, month=month + 1, day=day)


def _end_date(value: int) -> dt.datetime:
    text = str(value)
    if len(text) == 12:  # UTCTime YYMMDDHHMMSS: 50-99 -> 19YY
        text = ("19" if int(text[:2]) >= 50 else "20") + text
    if len(text) != 14:
        raise ValidationException(f"END_DATE {value} is neither YYMMDDHHMMSS nor YYYYMMDDHHMMSS")
    return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)


def validity_end(validity: dict | None, now: dt.datetime) -> dt.datetime:
    """IssueCertificate's Validity: ABSOLUTE, END_DATE, DAYS, MONTHS or YEARS."""
    if not isinstance(validity, dict) or "Type" not in validity or "Value" not in validity:
        raise ValidationException("1 validation error detected: Value null at 'validity' failed to satisfy "
                                  "constraint: Member must not be null")
    kind, value = validity["Type"], int(validity["Value"])
    if kind == "ABSOLUTE":
        return _utc(value)
    if kind == "END_DATE":
        return _end_date(value)
    if kind == "DAYS":
        return now + dt.timedelta(days=value)
    if kind == "MONTHS":
        return _add_months(now, value)
    if kind == "YEARS":
        return _add_months(now, 12 * value)
    raise ValidationException(f"Validity Type {kind} is not one of END_DATE, ABSOLUTE, DAYS, MONTHS, YEARS")


def validity_start(not_before: dict | None, now: dt.datetime) -> dt.datetime:
    if not not_before:
        return now - DEFAULT_BACKDATE
    kind, value = not_before.get("Type"), int(not_before.get("Value", 0))
    if kind == "ABSOLUTE":
        return _utc(value)
    if kind == "END_DATE":
        return _end_date(value)
    raise ValidationException(f"ValidityNotBefore Type {kind} is not one of END_DATE, ABSOLUTE")


class HonestCA(moto_models.CertificateAuthority):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_algorithm = self.certificate_authority_configuration.get("KeyAlgorithm") or "RSA_2048"
        make = _KEYS.get(self.key_algorithm)
        if make is None:
            raise InvalidArgsException(f"KeyAlgorithm {self.key_algorithm} is not supported by this simulator; "
                                       f"use one of {', '.join(_KEYS)}")
        self._key = make()  # kept decrypted: moto decrypts its PEM on every use
        self._cert_cache: tuple[bytes, x509.Certificate | None] = (b"", None)

    @property
    def key(self):
        return self._key

    @property
    def certificate(self):
        raw, parsed = self._cert_cache
        if raw != self.certificate_bytes:
            parsed = x509.load_pem_x509_certificate(self.certificate_bytes) if self.certificate_bytes else None
            self._cert_cache = (self.certificate_bytes, parsed)
        return parsed

    def _hash(self, signing_algorithm: str | None):
        family = "EC" if isinstance(self._key, ec.EllipticCurvePrivateKey) else "RSA"
        if not signing_algorithm:
            return hashes.SHA256()
        wanted = _SIGNING.get(signing_algorithm)
        if wanted is None or wanted[0] != family:
            raise InvalidArgsException(f"SigningAlgorithm {signing_algorithm} does not match the key algorithm "
                                       f"{self.key_algorithm} of certificate authority {self.arn}")
        return wanted[1]()

    def issue_honestly(self, csr_b64: bytes, template_arn: str | None, validity: dict | None,
                       not_before: dict | None, signing_algorithm: str | None) -> str:
        try:
            csr = x509.load_pem_x509_csr(base64.b64decode(csr_b64))
        except (ValueError, binascii.Error):
            raise MalformedCSRException() from None
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        start, end = validity_start(not_before, now), validity_end(validity, now)
        is_root = bool(template_arn) and template_arn.endswith(ROOT_TEMPLATE_SUFFIX)
        if end <= start:
            raise ValidationException("The certificate validity ends before it starts.")
        ca_cert = self.certificate
        if not is_root and ca_cert is not None and end > ca_cert.not_valid_after_utc:
            raise ValidationException(f"The certificate validity specified exceeds the certificate authority "
                                      f"validity ({ca_cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}).")
        subject = subject_of(csr)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.issuer)
                   .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end))
        for extension, critical in self._x509_extensions(csr, template_arn):
            if isinstance(extension, x509.SubjectAlternativeName) and len(subject) > 0:
                critical = False  # RFC 5280: critical only when the subject is empty
            builder = builder.add_extension(extension, critical)
        pem = builder.sign(self._key, self._hash(signing_algorithm)).public_bytes(serialization.Encoding.PEM)
        cert_arn = (f"arn:{get_partition(self.region_name)}:acm-pca:{self.region_name}:{self.account_id}:"
                    f"certificate-authority/{self.id}/certificate/{mock_random.uuid4().hex}")
        self.issued_certificates[cert_arn] = pem
        if not is_root:
            self.issued_certificates_certificate_chains[cert_arn] = self.certificate_bytes
        return cert_arn


MAX_CN_LENGTH = 64  # RFC 5280 ub-common-name


def subject_of(csr: x509.CertificateSigningRequest) -> x509.Name:
    """The issued subject: the CSR's, and for a CSR without a common name the
    first SAN (DNS name, else URI) copied in as CN when it fits in 64 characters,
    as the Kong Mesh document says ACM PCA may ("a SAN may be duplicated as CN")."""
    if csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        return csr.subject
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return csr.subject
    names = [*sans.get_values_for_type(x509.DNSName), *sans.get_values_for_type(x509.UniformResourceIdentifier)]
    if not names or len(names[0]) > MAX_CN_LENGTH:
        return csr.subject
    return x509.Name([*csr.subject, x509.NameAttribute(x509.NameOID.COMMON_NAME, names[0])])


class HonestBackend(moto_models.ACMPCABackend):
    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], tuple[float, str]] = {}

    @property
    def _url_module(self):
        return SimpleNamespace(url_bases=moto_urls.url_bases, url_paths={"{0}/$": HonestResponse.dispatch})

    def create_certificate_authority(self, certificate_authority_configuration, revocation_configuration,
                                     certificate_authority_type, security_standard, tags):
        authority = HonestCA(self.region_name, self.account_id, certificate_authority_configuration,
                             certificate_authority_type, revocation_configuration, security_standard)
        self.certificate_authorities[authority.arn] = authority
        if tags:
            self.tagger.tag_resource(authority.arn, tags)
        return authority.arn

    def issue_certificate_honestly(self, arn: str, csr: bytes, template_arn: str | None, validity: dict | None,
                                   not_before: dict | None, signing_algorithm: str | None, token: str | None) -> str:
        ca = self.describe_certificate_authority(arn)
        is_root = bool(template_arn) and template_arn.endswith(ROOT_TEMPLATE_SUFFIX)
        if ca.status != "ACTIVE" and not (is_root and ca.status == "PENDING_CERTIFICATE"):
            raise InvalidStateException(arn)
        if not token:
            return ca.issue_honestly(csr, template_arn, validity, not_before, signing_algorithm)
        with self._lock:  # the same token within 5 minutes gets the same certificate
            now = time.monotonic()
            seen = self._tokens.get((arn, token))
            if seen and now - seen[0] < IDEMPOTENCY_SECONDS:
                return seen[1]
            cert_arn = ca.issue_honestly(csr, template_arn, validity, not_before, signing_algorithm)
            self._tokens[(arn, token)] = (now, cert_arn)
            for k in [k for k, (t, _) in self._tokens.items() if now - t >= IDEMPOTENCY_SECONDS]:
                del self._tokens[k]
            return cert_arn


class HonestResponse(ACMPCAResponse):
    def issue_certificate(self) -> str:
        params = json.loads(self.body)
        cert_arn = self.acmpca_backend.issue_certificate_honestly(
            params.get("CertificateAuthorityArn"), (params.get("Csr") or "").encode(), params.get("TemplateArn"),
            params.get("Validity"), params.get("ValidityNotBefore"), params.get("SigningAlgorithm"),
            params.get("IdempotencyToken"))
        return json.dumps({"CertificateArn": cert_arn})


def install() -> None:
    """Make moto's acm-pca backends these classes (before any is created)."""
    moto_models.acmpca_backends.backend = HonestBackend
