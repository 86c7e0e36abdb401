"""X.509 helpers shared by every CA backend: keys, CSRs, signing, inspection.

Data plane keys default to EC P-256 (fast: about 50x cheaper to generate than
RSA 2048); RSA 2048, Kuma's default, is selectable with key_type="rsa".
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

KEY_TYPES = ("ec", "rsa")

# The keys mzsim generates (KEY_TYPES). Keys read from PEM may be any PrivateKeyTypes;
# signing takes a CertificateIssuerPrivateKeyTypes.
PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def generate_key(key_type: str = "ec", rsa_bits: int = 2048) -> PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    raise ValueError(f"unknown key type {key_type!r}; use one of {KEY_TYPES}")


def key_to_pem(key: PrivateKeyTypes) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def load_key(pem: bytes | str) -> PrivateKeyTypes:
    data = pem.encode() if isinstance(pem, str) else pem
    return serialization.load_pem_private_key(data, password=None)


def cert_to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def load_certs(pem: bytes | str) -> list[x509.Certificate]:
    data = pem.encode() if isinstance(pem, str) else pem
    return x509.load_pem_x509_certificates(data)


def split_pem(pem: str) -> list[str]:
    return [cert_to_pem(c) for c in load_certs(pem)] if pem.strip() else []


def signing_hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256:
    return hashes.SHA256()


@dataclass(frozen=True)
class Identity:
    """Who a data plane certificate is for."""

    mesh: str
    dataplane: str
    tags: dict[str, list[str]] = field(default_factory=dict)  # tag -> values over all inbounds

    @property
    def services(self) -> list[str]:
        return sorted(self.tags.get("kuma.io/service", []))

    def uri_sans(self) -> list[str]:
        sans = [f"spiffe://{self.mesh}/{s}" for s in self.services]
        for tag in sorted(self.tags):
            for value in sorted(self.tags[tag]):
                sans.append(f"kuma://{tag}/{value}")
        return sans

    def tag_value(self, tag: str) -> str:
        values = sorted(self.tags.get(tag, []))
        return values[0] if values else ""


@dataclass
class IssuedCert:
    """What a backend returns: leaf + chain (PEM), the leaf's key, and the roots."""

    cert_pem: str  # leaf, then intermediates
    key_pem: str
    ca_pems: list[str]  # roots
    backend: str = ""

    @functools.cached_property
    def leaf(self) -> x509.Certificate:
        """Parsed once; a backend that already holds the parsed leaf may set it."""
        return load_certs(self.cert_pem)[0]

    @functools.cached_property
    def chain_problem(self) -> str:
        """Why the roots are not a usable trust anchor ("" if they are): a chain
        that stops at an intermediate hands that intermediate out as the root."""
        if not self.ca_pems or any(_self_signed(c) for c in self.ca_pems):
            return ""
        top = load_certs(self.ca_pems[-1])[0]
        return (f'the CA chain the backend returned ends in "{top.subject.rfc4514_string()}", which is not '
                "self-signed: data planes cannot use it as the root. Include the root CA's certificate in "
                "the CA's chain (Vault: in the bundle given to {pki}/intermediate/set-signed)")

    @property
    def serial_hex(self) -> str:
        return format(self.leaf.serial_number, "x")

    @property
    def not_before(self) -> dt.datetime:
        return self.leaf.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        return self.leaf.not_valid_after_utc


def build_csr(identity: Identity, key: CertificateIssuerPrivateKeyTypes, common_name: str = "",
              dns_names: list[str] | tuple[str, ...] = ()) -> x509.CertificateSigningRequest:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in identity.uri_sans()]
    sans += [x509.DNSName(d) for d in dns_names]
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=not common_name)
    return builder.sign(key, signing_hash(key))


def csr_to_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


# cert-manager's usage names -> X.509 key usages and extended key usages.
KEY_USAGES = {"digital signature": "digital_signature", "key encipherment": "key_encipherment",
              "content commitment": "content_commitment", "data encipherment": "data_encipherment",
              "key agreement": "key_agreement", "cert sign": "key_cert_sign", "crl sign": "crl_sign",
              "encipher only": "encipher_only", "decipher only": "decipher_only"}
EXT_KEY_USAGES = {"server auth": ExtendedKeyUsageOID.SERVER_AUTH, "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
                  "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
                  "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION}
DP_USAGES = ("digital signature", "key encipherment", "server auth", "client auth")


def leaf_extensions(builder: x509.CertificateBuilder, sans: list[x509.GeneralName], critical_sans: bool,
                    usages: tuple[str, ...] = DP_USAGES) -> x509.CertificateBuilder:
    """A leaf's extensions; `usages` are cert-manager's names (default: data plane proxies')."""
    unknown = [u for u in usages if u not in KEY_USAGES and u not in EXT_KEY_USAGES]
    if unknown:
        raise ValueError(f"unknown usages {unknown}; known: {sorted(KEY_USAGES) + sorted(EXT_KEY_USAGES)}")
    flags = {v: False for v in KEY_USAGES.values()}
    flags.update({KEY_USAGES[u]: True for u in usages if u in KEY_USAGES})
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    if any(flags.values()):
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    ekus = [EXT_KEY_USAGES[u] for u in usages if u in EXT_KEY_USAGES]
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=critical_sans)
    return builder


def sign_csr(
    csr: x509.CertificateSigningRequest,
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    lifetime_seconds: float,
    *,
    backdate_seconds: float = 60,
    usages: tuple[str, ...] = DP_USAGES,
) -> x509.Certificate:
    """Sign a leaf with the CSR's subject and SANs; usages default to data plane
    proxies' (DigitalSignature+KeyEncipherment, ServerAuth+ClientAuth).
    Backdated a little for clock skew."""
    try:
        san_ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans, critical = list(san_ext.value), san_ext.critical
    except x509.ExtensionNotFound:
        sans, critical = [], False
    return sign_leaf(csr.subject, csr.public_key(), sans, critical, ca_cert, ca_key, lifetime_seconds,
                     backdate_seconds=backdate_seconds, usages=usages)


def sign_identity(identity: Identity, public_key: CertificatePublicKeyTypes, ca_cert: x509.Certificate,
                  ca_key: CertificateIssuerPrivateKeyTypes, lifetime_seconds: float,
                  *, common_name: str = "", backdate_seconds: float = 60) -> x509.Certificate:
    """Sign a data plane leaf for `identity` directly, without a CSR (local CAs).
    SANs are critical when the subject is empty, as RFC 5280 asks."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in identity.uri_sans()]
    return sign_leaf(subject, public_key, sans, not common_name, ca_cert, ca_key, lifetime_seconds,
                     backdate_seconds=backdate_seconds)


def sign_leaf(subject: x509.Name, public_key: CertificatePublicKeyTypes, sans: list[x509.GeneralName],
              critical_sans: bool, ca_cert: x509.Certificate, ca_key: CertificateIssuerPrivateKeyTypes,
              lifetime_seconds: float, *,
              backdate_seconds: float = 60, usages: tuple[str, ...] = DP_USAGES) -> x509.Certificate:
    now = utcnow()
    not_after = now + dt.timedelta(seconds=lifetime_seconds)
    if not_after > ca_cert.not_valid_after_utc:
        raise ValueError(
            f"requested lifetime ends {not_after:%Y-%m-%dT%H:%M:%SZ}, after the CA expires "
            f"({ca_cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ})"
        )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(seconds=backdate_seconds))
        .not_valid_after(not_after)
    )
    builder = leaf_extensions(builder, sans, critical_sans, usages)
    # The issuer's public key, taken from ca_key (typed as a signing key) rather than
    # ca_cert (any key type); the two match for every CA mzsim loads or makes.
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
    )
    return builder.sign(ca_key, signing_hash(ca_key))


def make_ca(
    common_name: str,
    *,
    key_type: str = "rsa",
    rsa_bits: int = 2048,
    lifetime_seconds: float = 10 * 365 * 86400,
    uri_san: str = "",
) -> tuple[x509.Certificate, PrivateKey]:
    """A self-signed root CA. Returns (cert, key)."""
    key = generate_key(key_type, rsa_bits)
    now = utcnow()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(seconds=lifetime_seconds))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_encipherment=False, content_commitment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if uri_san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri_san)]),
                                        critical=False)
    return builder.sign(key, signing_hash(key)), key


def uri_sans_of(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return ext.value.get_values_for_type(x509.UniformResourceIdentifier)


def public_keys_match(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return cert.public_key().public_bytes(enc, fmt) == key.public_key().public_bytes(enc, fmt)


def verify_chain(leaf_pem: str, roots_pem: list[str], intermediates_pem: list[str] | None = None,
                 *, at: dt.datetime | None = None) -> list[x509.Certificate]:
    """Verify with cryptography's X.509 path validation (client verification,
    since SPIFFE leaves carry URI SANs, not DNS names). Returns the chain."""
    certs = load_certs(leaf_pem)
    leaf, extra = certs[0], certs[1:]
    for p in intermediates_pem or []:
        extra.extend(load_certs(p))
    roots = [c for p in roots_pem for c in load_certs(p)]
    builder = PolicyBuilder().store(Store(roots))
    if at is not None:
        builder = builder.time(at)
    verifier = builder.build_client_verifier()
    result = verifier.verify(leaf, extra)
    return list(result.chain)




def split_chain(pems: list[str]) -> tuple[list[str], list[str]]:
    """(intermediates, roots) of a CA chain given as PEM texts (each may hold
    several certificates): roots are the self-signed ones, or the top of the
    chain if none is."""
    certs = [one for p in pems if p and p.strip() for one in split_pem(p)]
    roots = [c for c in certs if _self_signed(c)]
    intermediates = [c for c in certs if c not in roots]
    if not roots and certs:
        roots, intermediates = certs[-1:], certs[:-1]
    return intermediates, roots


def _self_signed(pem: str) -> bool:
    cert = load_certs(pem)[0]
    return cert.subject == cert.issuer
