"""Data plane certificates over real processes: issue, verify, rotate, report."""
from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from common.x509util import load_certs, uri_sans_of, verify_chain
from mzsim.launcher import Global, Zone, wait_connected
from mzsim.waiting import wait_until


def builtin_mesh(name: str, expiration: str = "1h") -> dict:
    return {"type": "Mesh", "name": name, "mtls": {"enabledBackend": "ca-1", "backends": [
        {"name": "ca-1", "type": "builtin", "dpCert": {"rotation": {"expiration": expiration}}}]}}


def dataplane(name: str, service: str, version: str = "v1") -> dict:
    return {"type": "Dataplane", "mesh": "default", "name": name, "networking": {
        "address": "10.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": service, "version": version}}]}}


def identity(z: Zone, name: str, mesh: str = "default"):
    status, body = z.get(f"/meshes/{mesh}/dataplanes/{name}/identity")
    return body if status == 200 else None


def next_identity(z: Zone, name: str, previous: dict, timeout: float = 15) -> dict:
    """Wait for a certificate other than `previous` (a rotation or a reissue)."""
    return wait_until(lambda: (i := identity(z, name)) and i["serial"] != previous["serial"] and i, timeout,
                      what=f"a new certificate for {name}")


def lifetime_of(ident: dict) -> float:
    parse = lambda t: dt.datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return (parse(ident["notAfter"]) - parse(ident["notBefore"])).total_seconds()


def test_zones_issue_certificates_that_verify_against_the_builtin_ca_from_global(cluster):
    g = cluster.add(Global(cluster.dir))
    zones = [cluster.add(Zone(cluster.dir, f"zone-{i}", g)) for i in (1, 2)]
    for z in zones:
        wait_connected(z)
    status, body = g.put("/meshes/default", builtin_mesh("default"))
    assert status == 201, body
    ca_secret = g.get("/meshes/default/secrets/default.ca-builtin-cert-ca-1")[1]
    root_pem = base64.b64decode(ca_secret["data"]).decode()
    listing = g.get("/meshes/default/secrets")[1]["items"]
    assert {i["name"] for i in listing} == {"default.ca-builtin-cert-ca-1", "default.ca-builtin-key-ca-1"}
    assert all("data" not in i for i in listing)  # listings never carry secret data
    for z in zones:
        wait_until(lambda z=z: "default" in z.mesh_names(), 10)
        assert z.put("/meshes/default/dataplanes/web-1", dataplane("web-1", "web"))[0] == 201
        ident = wait_until(lambda z=z: identity(z, "web-1"), 15, what=f"certificate in {z.name}")
        assert "PRIVATE KEY" not in str(ident)
        chain = verify_chain(ident["certificate"], ident["caCertificates"])
        assert load_certs(root_pem)[0] == chain[-1]
        leaf = load_certs(ident["certificate"])[0]
        assert sorted(uri_sans_of(leaf)) == sorted([
            "spiffe://default/web", "kuma://kuma.io/service/web", "kuma://version/v1"])
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.digital_signature and ku.key_encipherment and not ku.key_cert_sign
        assert ident["backend"] == "ca-1"

    def reported():
        items = g.get("/meshes/default/dataplanes/_overview")[1]["items"]
        return {i["name"]: i["dataplaneInsight"].get("mTLS", {}).get("serial") for i in items}
    serials = wait_until(lambda: len([s for s in reported().values() if s]) == 2 and reported(), 15)
    assert serials["zone-1.web-1"] == identity(zones[0], "web-1")["serial"]


def certified_zone(cluster, dataplanes: int, expiration: str):
    """Global + one zone with simulated dataplanes in a builtin mesh; returns
    (global, zone, dp-0's first certificate)."""
    g = cluster.add(Global(cluster.dir))
    z = cluster.add(Zone(cluster.dir, "zone-1", g, extra_args=["--dataplanes", str(dataplanes)]))
    wait_connected(z)
    assert g.put("/meshes/default", builtin_mesh("default", expiration))[0] == 201
    return g, z, wait_until(lambda: identity(z, "dp-0"), 15)


def test_certificates_rotate_at_four_fifths_of_their_lifetime(cluster):
    g, z, first = certified_zone(cluster, 2, "5s")
    issued_at = dt.datetime.now(dt.UTC)
    second = next_identity(z, "dp-0", first)
    renewed_after = (dt.datetime.now(dt.UTC) - issued_at).total_seconds()
    # 4/5 of 5 s = 4 s after issue (the first was issued before `issued_at`, so allow slack below).
    assert 2.5 <= renewed_after <= 8.0, renewed_after
    old_end = dt.datetime.fromisoformat(first["notAfter"].replace("Z", "+00:00"))
    assert dt.datetime.now(dt.UTC) < old_end + dt.timedelta(seconds=1)  # renewed before expiry
    assert second["serial"] != first["serial"]


def test_a_mesh_change_triggers_reissue(cluster):
    g, z, first = certified_zone(cluster, 1, "1h")
    mesh = builtin_mesh("default", "2h")
    assert g.put("/meshes/default", mesh)[0] == 200
    second = next_identity(z, "dp-0", first)
    assert lifetime_of(second) >= 2 * 3600


def test_issuance_keeps_working_while_global_is_down(cluster):
    g = cluster.add(Global(cluster.dir))
    z = cluster.add(Zone(cluster.dir, "zone-1", g))
    wait_connected(z)
    assert g.put("/meshes/default", builtin_mesh("default", "1h"))[0] == 201
    wait_until(lambda z=z: "default" in z.mesh_names(), 10)
    g.proc.kill()
    assert z.put("/meshes/default/dataplanes/new", dataplane("new", "api"))[0] == 201
    ident = wait_until(lambda: identity(z, "new"), 15)
    verify_chain(ident["certificate"], ident["caCertificates"])


def test_global_rejects_a_provided_ca_that_is_not_a_ca_and_nothing_is_synced(cluster):
    from common.x509util import Identity, build_csr, cert_to_pem, generate_key, key_to_pem, make_ca, sign_csr

    ca, ca_key = make_ca("root")
    leaf_key = generate_key("ec")
    leaf = sign_csr(build_csr(Identity("default", "x", {"kuma.io/service": ["x"]}), leaf_key), ca, ca_key, 3600)
    g = cluster.add(Global(cluster.dir))
    z = cluster.add(Zone(cluster.dir, "zone-1", g))
    wait_connected(z)
    mesh = {"type": "Mesh", "name": "default", "mtls": {"enabledBackend": "p-1", "backends": [
        {"name": "p-1", "type": "provided", "conf": {"cert": {"inlineString": cert_to_pem(leaf)},
                                                      "key": {"inlineString": key_to_pem(leaf_key)}}}]}}
    status, body = g.put("/meshes/default", mesh)
    assert status == 400, body
    assert body["causes"][0]["field"].startswith("mtls.backends[0]")
    assert "CA" in body["causes"][0]["message"]
    assert g.get("/meshes/default")[0] == 404
    version = g.get("/")[1]["version"]
    wait_until(lambda: g.zone_status("zone-1")["ackedVersion"] == version, 10)
    assert z.mesh_names() == []


def test_demo_runs_issues_certificates_and_leaves_no_process_behind(tmp_path):
    data = tmp_path / "demo"
    out = subprocess.run([sys.executable, "-m", "mzsim", "demo", "--duration", "12", "--zones", "2",
                          "--dataplanes", "3", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    final = [line for line in out.stdout.splitlines() if "final:" in line][-1]
    assert "zones online 2/2" in final
    issued = int(final.split("certificates issued ")[1].split()[0])
    assert issued >= 6, final
    assert "all stopped" in out.stdout
    for log in data.glob("*.log"):  # clean shutdowns: no process logged a traceback
        assert "Traceback" not in log.read_text(), log.name
    leftovers = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if str(data).encode() in f.read():
                        leftovers.append(pid)
            except OSError:
                pass
    assert leftovers == []
