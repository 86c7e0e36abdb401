"""`mzsim certmanager setup`, as a user runs it."""
from __future__ import annotations

import subprocess
import sys

import yaml

from common.resources import parse_resource


def run_setup(kube, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mzsim", "certmanager", "setup", "--kubeconfig", kube.kubeconfig,
                           *args], capture_output=True, text=True, timeout=60)


def test_setup_creates_namespace_secret_and_issuer_once_and_prints_a_mesh(kube):
    first = run_setup(kube, "--namespace", "setup-cli", "--mesh", "payments")
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines() == ["created namespace setup-cli", "created CA secret setup-cli/my-ca-issuer-ca",
                                         "created Issuer my-ca-issuer"]
    mesh = parse_resource(yaml.safe_load(first.stdout))
    assert mesh.name == "payments"
    assert mesh.spec["mtls"]["backends"][0]["conf"]["issuerRef"] == {
        "name": "my-ca-issuer", "kind": "Issuer", "group": "cert-manager.io"}
    again = run_setup(kube, "--namespace", "setup-cli")
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines() == ["kept CA secret setup-cli/my-ca-issuer-ca", "kept Issuer my-ca-issuer"]


def test_setup_without_a_reachable_api_says_so(tmp_path):
    missing = tmp_path / "absent.yaml"
    r = subprocess.run([sys.executable, "-m", "mzsim", "certmanager", "setup", "--kubeconfig", str(missing)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert f"kubeconfig {missing} does not exist" in r.stderr
