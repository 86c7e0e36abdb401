"""deploy/kubernetes: rendered with `kubectl kustomize` and every object validated
against the Kubernetes OpenAPI schemas of kubectl's minor version (PyPI
kubernetes-validate, strict: unknown fields are errors); cert-manager's kinds,
which those schemas do not have, are checked by hand. Then the parts must agree:
every mzsim command parses with the real parser, the bootstrap Job mints tokens
for exactly the zones the StatefulSet runs, and the certmanager mesh names the
Issuer in kong-mesh-system."""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess

import pytest
import yaml

from common.resources import load_documents, parse_resource
from common.validation import validate_resource
from mzsim.cli import build_parser

kubernetes_validate = pytest.importorskip("kubernetes_validate")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(REPO, "deploy", "kubernetes", "base")
KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl renders the kustomize base; it is not on PATH")


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    assert KUBECTL
    out = subprocess.run([KUBECTL, "kustomize", BASE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def kube_version() -> str:
    assert KUBECTL
    out = subprocess.run([KUBECTL, "version", "--client", "-o", "yaml"], capture_output=True, text=True, timeout=30)
    v = yaml.safe_load(out.stdout)["clientVersion"]
    minor = re.match(r"\d+", v["minor"])
    assert minor, v
    return f"{v['major']}.{minor.group(0)}"


def find(docs: list[dict], kind: str, name: str) -> dict:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def container(doc: dict) -> dict:
    (c,) = doc["spec"]["template"]["spec"]["containers"]
    return c


def env_of(c: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in c.get("env", [])}


def mzsim_args(c: dict, pod: str = "mzsim-zones-0"):
    argv = [a.replace("$(POD_NAME)", pod) for a in c["args"]]
    assert argv[0] == "mzsim"
    try:
        return build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"{argv} does not parse")


def test_every_object_validates_against_the_kubernetes_schemas(rendered, kube_version):
    cert_manager = []
    for doc in rendered:
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert doc["apiVersion"] == "cert-manager.io/v1", f"no schema for {doc['apiVersion']} {doc['kind']}"
            cert_manager.append(doc)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {e.message} at {list(e.path)}")
    assert sorted((d["kind"], d["metadata"]["name"]) for d in cert_manager) == [
        ("Certificate", "mzsim-ca"), ("Issuer", "mzsim-ca"), ("Issuer", "mzsim-selfsigned")]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in rendered}
    assert {("Deployment", "mzsim-global"), ("Service", "mzsim-global"), ("PersistentVolumeClaim", "mzsim-global-data"),
            ("StatefulSet", "mzsim-zones"), ("Job", "mzsim-bootstrap"), ("Deployment", "mzsim-zone-k8s")} <= kinds


def test_the_cert_manager_objects_live_in_kong_mesh_system(rendered):
    ca = find(rendered, "Issuer", "mzsim-ca")
    cert = find(rendered, "Certificate", "mzsim-ca")
    selfsigned = find(rendered, "Issuer", "mzsim-selfsigned")
    for d in (ca, cert, selfsigned):
        assert d["metadata"]["namespace"] == "kong-mesh-system"
    assert cert["spec"]["isCA"] is True and cert["spec"]["issuerRef"]["name"] == "mzsim-selfsigned"
    assert ca["spec"]["ca"]["secretName"] == cert["spec"]["secretName"]
    with open(os.path.join(BASE, "mzsim", "mesh-certmanager.yaml")) as f:
        (mesh,) = load_documents(f.read(), "mesh-certmanager.yaml")
    res = parse_resource(mesh)
    assert list(validate_resource(res)) == []
    ref = res.spec["mtls"]["backends"][0]["conf"]["issuerRef"]
    assert (ref["name"], ref["kind"]) == ("mzsim-ca", "Issuer")
    binding = find(rendered, "RoleBinding", "mzsim-certmanager-backend")
    assert binding["metadata"]["namespace"] == "kong-mesh-system"
    assert {(s["name"], s["namespace"]) for s in binding["subjects"]} == {("mzsim-global", "mzsim"),
                                                                        ("mzsim-zone-k8s", "mzsim")}


def test_global_keeps_its_store_on_the_pvc_and_serves_kds_under_its_service_name(rendered):
    g = find(rendered, "Deployment", "mzsim-global")
    args = mzsim_args(container(g))
    assert args.command == "global" and args.host == "0.0.0.0"
    assert "mzsim-global.mzsim.svc" in args.kds_tls_san
    (vol,) = g["spec"]["template"]["spec"]["volumes"]
    assert vol["persistentVolumeClaim"]["claimName"] == "mzsim-global-data"
    assert {m["mountPath"] for m in container(g)["volumeMounts"]} == {args.data_dir}
    assert g["spec"]["replicas"] == 1 and g["spec"]["strategy"]["type"] == "Recreate"


def test_the_job_mints_a_token_for_every_zone_that_runs(rendered):
    job = find(rendered, "Job", "mzsim-bootstrap")
    env = env_of(container(job))
    sts = find(rendered, "StatefulSet", "mzsim-zones")
    zone = mzsim_args(container(sts))
    assert int(env["ZONE_PODS"]) == sts["spec"]["replicas"]
    assert int(env["ZONES_PER_POD"]) == zone.count
    assert env["ZONE_STATEFULSET"] == sts["metadata"]["name"]
    spec = importlib.util.spec_from_file_location("k8s_bootstrap", os.path.join(BASE, "mzsim", "bootstrap.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    old = dict(os.environ)
    try:
        os.environ.update(env)
        names = module.zone_names()
    finally:
        os.environ.clear()
        os.environ.update(old)
    # zone_cp names the zones of --count N as PREFIX1 ... PREFIXN
    want = [f"{zone_args.name_prefix}{i + 1}" for p in range(sts["spec"]["replicas"])
            for zone_args in [mzsim_args(container(sts), pod=f"mzsim-zones-{p}")] for i in range(zone.count)]
    k8s = mzsim_args(container(find(rendered, "Deployment", "mzsim-zone-k8s")))
    assert names == [*want, k8s.name]
    assert len(set(names)) == len(names)
    secret = env["TOKEN_SECRET"]
    for workload in (sts, find(rendered, "Deployment", "mzsim-zone-k8s")):
        vols = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        assert vols["tokens"]["secret"]["secretName"] == secret
    assert zone.token_file == "/tokens/{zone}" and zone.kds_ca_cert == "/tokens/kds-ca.crt"
    rules = find(rendered, "Role", "mzsim-bootstrap")["rules"]
    assert {tuple(r["verbs"]) for r in rules} == {("create",), ("get", "update")}
    assert all(r["resources"] == ["secrets"] for r in rules)


def test_zones_dial_globals_service_over_tls(rendered):
    for workload in (find(rendered, "StatefulSet", "mzsim-zones"), find(rendered, "Deployment", "mzsim-zone-k8s")):
        z = mzsim_args(container(workload))
        assert z.global_address == "wss://mzsim-global.mzsim.svc:5685"
        assert workload["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    k8s = mzsim_args(container(find(rendered, "Deployment", "mzsim-zone-k8s")))
    assert k8s.environment == "kubernetes" and "certmanager" in k8s.mesh.split(",")
    assert k8s.kubeconfig is None, "in-cluster: its ServiceAccount"
