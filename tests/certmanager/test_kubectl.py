"""Real kubectl (/usr/bin/kubectl) against `mzsim kube-api` with the kubeconfig
it writes, and nothing else: the commands cert-manager users run."""
from __future__ import annotations

import base64
import queue
import shutil
import subprocess
import threading

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from common.x509util import cert_to_pem, generate_key, key_to_pem, make_ca, uri_sans_of, verify_chain
from mzsim.launcher import Global, Zone, wait_connected
from mzsim.setup.certmanager import SetupResult
from mzsim.waiting import wait_until

from .conftest import NAMESPACE

KUBECTL = shutil.which("kubectl", path="/usr/bin") or ""
pytestmark = pytest.mark.skipif(not KUBECTL, reason="/usr/bin/kubectl is not installed")


@pytest.fixture(scope="module")
def kubectl(kube, tmp_path_factory):
    """Run kubectl with the kube-api's kubeconfig and a private discovery cache."""
    cache = str(tmp_path_factory.mktemp("kubectl-cache"))
    env = {"PATH": "/usr/bin:/bin", "HOME": cache, "KUBECONFIG": kube.kubeconfig}

    def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([KUBECTL, "--cache-dir", cache, *args], input=stdin, capture_output=True, text=True,
                           timeout=30, env=env)
        if check:
            assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
        return r

    run.env = env  # type: ignore[attr-defined]
    run.cache = cache  # type: ignore[attr-defined]
    return run


def ca_secret(kubectl, name: str, tmp_path) -> str:
    """A CA keypair Secret made with `kubectl create secret tls` (a protobuf body); returns the CA PEM."""
    cert, key = make_ca(f"kubectl CA {name}", key_type="ec")
    (tmp_path / "ca.crt").write_text(cert_to_pem(cert))
    (tmp_path / "ca.key").write_text(key_to_pem(key))
    out = kubectl("create", "secret", "tls", name, "-n", NAMESPACE, "--cert", str(tmp_path / "ca.crt"),
                  "--key", str(tmp_path / "ca.key")).stdout
    assert out.strip() == f"secret/{name} created"
    return cert_to_pem(cert)


def issuer_yaml(name: str, secret: str, **spec_ca) -> str:
    return yaml.safe_dump({"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                           "metadata": {"name": name, "namespace": NAMESPACE},
                           "spec": {"ca": {"secretName": secret, **spec_ca}}})


def request_yaml(name: str, issuer: str) -> str:
    key = generate_key("ec")
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"{name}.example")]), critical=False)
           .sign(key, hashes.SHA256()))
    return yaml.safe_dump({"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest",
                           "metadata": {"name": name, "namespace": NAMESPACE},
                           "spec": {"request": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode(),
                                    "issuerRef": {"name": issuer}, "duration": "1h",
                                    "usages": ["digital signature", "key encipherment", "client auth"]}})


def columns(table: str) -> list[dict[str, str]]:
    """kubectl's table output as dicts, cut at the header's column starts."""
    lines = [line for line in table.splitlines() if line.strip()]
    header = lines[0]
    starts = [i for i, c in enumerate(header) if c != " " and (i == 0 or header[i - 1] == " ")]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    names = [header[a:b].strip() for a, b in bounds]
    return [{n: line[a:b].strip() for n, (a, b) in zip(names, bounds, strict=True)} for line in lines[1:]]


def test_version_get_ns_api_resources_and_auth_can_i(kubectl):
    assert "Server Version: v1.32.0-mzsim" in kubectl("version").stdout
    namespaces = {r["NAME"]: r for r in columns(kubectl("get", "ns").stdout)}
    assert namespaces[NAMESPACE]["STATUS"] == "Active"
    resources = {r["NAME"]: r for r in columns(kubectl("api-resources", "-o", "wide").stdout)}
    assert resources["certificaterequests"] | {"VERBS": ""} == {
        "NAME": "certificaterequests", "SHORTNAMES": "cr,crs", "APIVERSION": "cert-manager.io/v1",
        "NAMESPACED": "true", "KIND": "CertificateRequest", "VERBS": "", "CATEGORIES": "cert-manager"}
    assert resources["clusterissuers"]["NAMESPACED"] == "false" and resources["namespaces"]["SHORTNAMES"] == "ns"
    assert "cert-manager.io/v1" in kubectl("api-versions").stdout.split()
    assert kubectl("get", "--raw", "/readyz").stdout == "ok" and kubectl("get", "--raw", "/livez").stdout == "ok"
    yes = kubectl("auth", "can-i", "create", "certificaterequests", "-n", NAMESPACE)
    assert yes.stdout.strip() == "yes"
    no = kubectl("auth", "can-i", "create", "pods", check=False)  # not served here: an honest no
    assert (no.returncode, no.stdout.split(" ")[0]) == (1, "no")


def test_apply_an_issuer_and_a_request_watch_until_ready_describe_explain_and_delete(kubectl, tmp_path):
    root = ca_secret(kubectl, "kubectl-ca", tmp_path)
    assert kubectl("apply", "-f", "-", stdin=issuer_yaml("kubectl-issuer", "kubectl-ca")).stdout.strip() == \
        "issuer.cert-manager.io/kubectl-issuer created"
    wait_until(lambda: {"NAME": "kubectl-issuer", "READY": "True"}.items() <= next(
        r for r in columns(kubectl("get", "issuers", "-n", NAMESPACE).stdout) if r["NAME"] == "kubectl-issuer"
    ).items(), 10, what="the issuer Ready")

    lines: queue.Queue[str] = queue.Queue()
    watch = subprocess.Popen([KUBECTL, "--cache-dir", kubectl.cache, "get", "certificaterequests", "-n", NAMESPACE,
                              "--field-selector", "metadata.name=web", "-w"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=kubectl.env)
    threading.Thread(target=lambda: [lines.put(line) for line in watch.stdout], daemon=True).start()
    try:
        assert kubectl("apply", "-f", "-", stdin=request_yaml("web", "kubectl-issuer")).stdout.strip() == \
            "certificaterequest.cert-manager.io/web created"
        seen = [lines.get(timeout=15)]
        assert seen[0].split() == ["NAME", "APPROVED", "DENIED", "READY", "ISSUER", "REQUESTER", "AGE"], seen
        while seen[-1].split()[:4] != ["web", "True", "True", "kubectl-issuer"]:  # approved, ready (DENIED empty)
            seen.append(lines.get(timeout=15))
    finally:
        watch.terminate()
        watch.wait(5)

    got = yaml.safe_load(kubectl("get", "certificaterequests", "web", "-n", NAMESPACE, "-o", "yaml").stdout)
    verify_chain(base64.b64decode(got["status"]["certificate"]).decode(), [root])
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]

    described = wait_until(lambda: (d := kubectl("describe", "cr", "web", "-n", NAMESPACE).stdout)
                           and "CertificateIssued" in d and d, 10, what="the Issued event")
    events = described.split("Events:")[1]
    assert "cert-manager.io" in events and "Certificate request has been approved by cert-manager.io" in events
    assert "Certificate fetched from issuer successfully" in events

    # Applying a change patches (client-side apply: the last-applied annotation)
    changed = issuer_yaml("kubectl-issuer", "kubectl-ca", ocspServers=["http://ocsp.example"])
    assert kubectl("apply", "-f", "-", stdin=changed).stdout.strip() == \
        "issuer.cert-manager.io/kubectl-issuer configured"
    assert kubectl("apply", "-f", "-", stdin=changed).stdout.strip() == \
        "issuer.cert-manager.io/kubectl-issuer unchanged"
    issuer = yaml.safe_load(kubectl("get", "issuer", "kubectl-issuer", "-n", NAMESPACE, "-o", "yaml").stdout)
    assert issuer["spec"]["ca"] == {"secretName": "kubectl-ca", "ocspServers": ["http://ocsp.example"]}

    explained = kubectl("explain", "certificaterequest.spec.issuerRef").stdout
    assert "KIND:       CertificateRequest" in explained and "name\t<string> -required-" in explained

    assert kubectl("delete", "cr", "web", "-n", NAMESPACE).stdout.strip() == \
        'certificaterequest.cert-manager.io "web" deleted'
    gone = kubectl("get", "cr", "web", "-n", NAMESPACE, check=False)
    assert gone.returncode == 1 and '"web" not found' in gone.stderr


def test_apply_validates_with_the_server_schema(kubectl):
    unknown = kubectl("apply", "-f", "-", stdin=issuer_yaml("typo", "s", bogus=1), check=False)
    assert unknown.returncode == 1 and 'strict decoding error: unknown field "spec.ca.bogus"' in unknown.stderr
    wrong = kubectl("apply", "-f", "-", stdin=issuer_yaml("typo", 3), check=False)
    assert wrong.returncode == 1
    assert 'The Issuer "typo" is invalid: spec.ca.secretName: Invalid value: "integer"' in wrong.stderr
    raw = kubectl("create", "--raw", f"/apis/cert-manager.io/v1/namespaces/{NAMESPACE}/issuers", "-f", "-",
                  stdin=issuer_yaml("raw-yaml", "s"))  # the YAML body as is
    assert yaml.safe_load(raw.stdout)["metadata"]["name"] == "raw-yaml"
    kubectl("delete", "issuer", "raw-yaml", "-n", NAMESPACE)


def test_a_zone_issues_through_an_issuer_created_with_kubectl(cluster, kube, kubectl, tmp_path):
    root = ca_secret(kubectl, "zone-ca", tmp_path)
    kubectl("apply", "-f", "-", stdin=issuer_yaml("zone-issuer", "zone-ca"))
    g = cluster.add(Global(cluster.dir, extra_args=["--kubeconfig", kube.kubeconfig]))
    kz = cluster.add(Zone(cluster.dir, "kube-kubectl", g, extra_args=[
        "--environment", "kubernetes", "--kubeconfig", kube.kubeconfig, "--dataplanes", "2", "--mesh", "kc"]))
    wait_connected(kz)
    mesh = SetupResult(NAMESPACE, "zone-issuer", "Issuer", "zone-ca", root).mesh_doc("kc", expiration="1h")
    status, body = g.put("/meshes/kc", mesh)
    assert status == 201, body
    for dp in ("dp-0", "dp-1"):
        ident = wait_until(lambda dp=dp: (r := kz.get(f"/meshes/kc/dataplanes/{dp}/identity"))[0] == 200 and r[1],
                           20, what=f"{dp} certified")
        chain = verify_chain(ident["certificate"], [root])
        assert "spiffe://kc/svc-0" in uri_sans_of(chain[0])
    events = kubectl("get", "events", "-n", NAMESPACE, "--field-selector", "reason=CertificateIssued").stdout
    assert "certificaterequest/kc-" in events  # the zone's requests, described by the controller


def test_label_patch_diff_server_dry_run_and_server_side_apply(kubectl):
    kubectl("apply", "-f", "-", stdin=issuer_yaml("edits", "none"))
    ns = ("-n", NAMESPACE)
    assert kubectl("label", "issuer", "edits", "team=a", *ns).stdout.strip() == "issuer.cert-manager.io/edits labeled"
    kubectl("patch", "issuer", "edits", *ns, "--type", "json",
            "-p", '[{"op": "add", "path": "/spec/ca/ocspServers", "value": ["http://o"]}]')
    rows = columns(kubectl("get", "issuers", "-l", "team=a", *ns).stdout)
    assert [r["NAME"] for r in rows] == ["edits"]
    changed = issuer_yaml("edits", "other")
    diff = kubectl("diff", "-f", "-", stdin=changed, check=False)  # a server-side dry run
    assert diff.returncode == 1 and "-    secretName: none" in diff.stdout and "+    secretName: other" in diff.stdout
    assert kubectl("apply", "--dry-run=server", "-f", "-", stdin=changed).stdout.strip() == \
        "issuer.cert-manager.io/edits configured (server dry run)"
    kubectl("delete", "issuer", "edits", "--dry-run=server", *ns)

    def spec() -> dict:
        return yaml.safe_load(kubectl("get", "issuer", "edits", *ns, "-o", "yaml").stdout)["spec"]

    assert spec()["ca"]["secretName"] == "none"  # nothing of the dry runs stuck
    assert kubectl("apply", "--server-side", "-f", "-", stdin=changed).stdout.strip() == \
        "issuer.cert-manager.io/edits serverside-applied"
    assert spec()["ca"]["secretName"] == "other"
    kubectl("delete", "-f", "-", stdin=changed)
