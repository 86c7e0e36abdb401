"""KDS over TLS (wss://, the default) and the API over HTTPS, with real
processes and certificates made by the test."""
from __future__ import annotations

import glob
import ipaddress
import os
import stat
import subprocess
import sys

from cryptography import x509
from cryptography.x509.oid import NameOID

from common.x509util import cert_to_pem, generate_key, key_to_pem, make_ca, sign_leaf
from mzsim.launcher import Global, Zone, wait_connected
from mzsim.waiting import wait_until


def server_cert(tmp, name: str) -> tuple[str, str, str]:
    """(ca file, cert file, key file): a CA and a server cert for 127.0.0.1 it signed."""
    ca, ca_key = make_ca(f"test CA {name}", key_type="ec")
    key = generate_key("ec")
    cert = sign_leaf(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key.public_key(),
                     [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")], False,
                     ca, ca_key, 3600, usages=("digital signature", "server auth"))
    paths = [os.path.join(tmp, f"{name}-{p}") for p in ("ca.crt", "server.crt", "server.key")]
    for path, pem in zip(paths, [cert_to_pem(ca), cert_to_pem(cert), key_to_pem(key)], strict=True):
        with open(path, "w") as f:
            f.write(pem)
    return paths[0], paths[1], paths[2]


def test_a_zone_that_trusts_globals_generated_ca_syncs_over_wss(cluster):
    old = os.umask(0o022)  # a permissive umask: the files must be private anyway
    try:
        g = cluster.add(Global(cluster.dir))
        z = cluster.add(Zone(cluster.dir, "zone-1", g))  # the launcher passes --kds-ca-cert data-dir/kds-ca.crt
    finally:
        os.umask(old)
    assert g.kds.startswith("wss://")
    assert g.put("/meshes/m1", {"type": "Mesh", "name": "m1"})[0] == 201
    wait_until(lambda: z.mesh_names() == ["m1"], 20, what="m1 synced over wss://")
    for name, mode in [("kds-ca.key", 0o600), ("kds-server.key", 0o600)]:
        assert stat.S_IMODE(os.stat(os.path.join(g.data_dir, name)).st_mode) == mode, name
    with open(g.kds_ca) as f:
        assert "PRIVATE KEY" not in f.read()
    (db,) = glob.glob(os.path.join(z.data_dir, "**", "zone.db"), recursive=True)  # the zone's files are private too
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(db)).st_mode) == 0o700


def test_a_zone_that_trusts_another_ca_does_not_connect_and_says_why(cluster, tmp_path):
    g = cluster.add(Global(cluster.dir))
    other_ca, _, _ = server_cert(str(tmp_path), "other")
    z = cluster.add(Zone(cluster.dir, "zone-1", g, extra_args=["--kds-ca-cert", other_ca]))
    wait_until(lambda: "cannot verify global's KDS certificate" in z.status()["lastError"], 15)
    assert "--kds-ca-cert" in z.status()["lastError"] and not z.status()["connected"]
    system = cluster.add(Zone(cluster.dir, "zone-2", g, extra_args=["--kds-ca-cert", ""]))  # the system store
    wait_until(lambda: "cannot verify global's KDS certificate" in system.status()["lastError"], 15)
    wait_until(lambda: z.status()["kds"]["lastError"] and "cannot verify" in z.proc.log(), 5)
    assert g.zone_status("zone-1") is None
    skip = cluster.add(Zone(cluster.dir, "zone-3", g, extra_args=["--kds-tls-skip-verify"]))
    wait_connected(skip)
    assert "NOT verified" in skip.proc.log()


def test_a_ws_dial_to_the_tls_port_says_to_use_wss(cluster):
    g = cluster.add(Global(cluster.dir))
    z = cluster.add(Zone(cluster.dir, "zone-1", g, kds_address=f"ws://127.0.0.1:{g.kds_port}"))
    wait_until(lambda: "speaks TLS: dial wss://" in z.status()["lastError"], 15)


def test_operator_certificates_and_plain_ws(cluster, tmp_path):
    ca, cert, key = server_cert(str(tmp_path), "kds")
    g = cluster.add(Global(cluster.dir, extra_args=["--kds-tls-cert", cert, "--kds-tls-key", key]))
    z = cluster.add(Zone(cluster.dir, "zone-1", g, extra_args=["--kds-ca-cert", ca]))
    wait_connected(z)
    assert not os.path.exists(g.kds_ca)  # nothing generated when the operator gives the certificate

    plain = Global(cluster.dir + "/plain", env={"MZSIM_KDS_TLS_ENABLED": "false"})
    os.makedirs(plain.workdir, exist_ok=True)
    cluster.add(plain)
    assert plain.kds.startswith("ws://")
    wait_connected(cluster.add(Zone(plain.workdir, "zone-1", plain)))
    wss = cluster.add(Zone(plain.workdir, "zone-2", plain, kds_address=f"wss://127.0.0.1:{plain.kds_port}",
                           extra_args=["--kds-tls-skip-verify"]))
    wait_until(lambda: "does not speak TLS" in wss.status()["lastError"], 15)


def test_the_api_over_https(cluster, tmp_path):
    ca, cert, key = server_cert(str(tmp_path), "api")
    g = cluster.add(Global(cluster.dir, extra_args=["--api-tls-cert", cert, "--api-tls-key", key]))
    api = f"https://127.0.0.1:{g.api_port}"

    def token(*extra):
        return subprocess.run([sys.executable, "-m", "mzsim", "token", "zone", "--zone", "zone-1",
                               "--global-api", api, "--wait-global", "5s", *extra],
                              capture_output=True, text=True, timeout=60)
    r = token("--api-ca-cert", ca)
    assert r.returncode == 0 and r.stdout.count(".") == 2, r.stderr
    r = token()
    assert r.returncode == 1 and "--api-ca-cert" in r.stderr and "CERTIFICATE_VERIFY_FAILED" in r.stderr, r.stderr
