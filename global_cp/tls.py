"""TLS for global: KDS is wss:// by default, with a CA global generates in its
data dir on first start (kds-ca.crt; its key kds-ca.key at 0600) and a server
certificate it re-signs at each start for the current names; or the operator's
--kds-tls-cert/--kds-tls-key. The API serves HTTPS with --api-tls-cert/--api-tls-key."""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
import ssl

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.files import write_private
from common.x509util import cert_to_pem, generate_key, key_to_pem, load_certs, load_key, make_ca, signing_hash

log = logging.getLogger("mzsim.global.tls")

CA_CERT_FILE = "kds-ca.crt"
CA_KEY_FILE = "kds-ca.key"
SERVER_CERT_FILE = "kds-server.crt"
SERVER_KEY_FILE = "kds-server.key"
SERVER_CERT_DAYS = 365


class TlsConfigError(Exception):
    """A certificate or key file cannot be used; the message names the file."""


def server_names(host: str, extra: list[str]) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname(), *extra]
    if host not in ("0.0.0.0", "::", ""):
        names.append(host)
    return list(dict.fromkeys(n for n in names if n))


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def ensure_kds_certs(data_dir: str, names: list[str]) -> tuple[str, str]:
    """(cert file, key file) of a server certificate for `names`, signed by the data dir's KDS CA."""
    ca_cert_path, ca_key_path = os.path.join(data_dir, CA_CERT_FILE), os.path.join(data_dir, CA_KEY_FILE)
    if not (os.path.exists(ca_cert_path) and os.path.exists(ca_key_path)):
        cert, key = make_ca("mzsim global KDS CA", key_type="ec")
        write_private(ca_key_path, key_to_pem(key))
        with open(ca_cert_path, "w") as f:  # the CA certificate is public: zones need it
            f.write(cert_to_pem(cert))
        log.debug("generated the KDS CA %s (zones trust it with --kds-ca-cert)", ca_cert_path)
    with open(ca_cert_path) as f:
        ca_cert = load_certs(f.read())[0]
    with open(ca_key_path) as f:
        ca_key = load_key(f.read())
    os.chmod(ca_key_path, 0o600)
    key = generate_key("ec")
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mzsim-global-kds")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(min(now + dt.timedelta(days=SERVER_CERT_DAYS), ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .sign(ca_key, signing_hash(ca_key)))  # type: ignore[arg-type]
    cert_path, key_path = os.path.join(data_dir, SERVER_CERT_FILE), os.path.join(data_dir, SERVER_KEY_FILE)
    write_private(key_path, key_to_pem(key))
    with open(cert_path, "w") as f:
        f.write(cert_to_pem(cert) + cert_to_pem(ca_cert))
    return cert_path, key_path


def server_context(cert_file: str, key_file: str, what: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as e:
        raise TlsConfigError(f"cannot load the {what} certificate {cert_file} with key {key_file}: "
                             f"{getattr(e, 'strerror', None) or e}") from None
    return ctx
