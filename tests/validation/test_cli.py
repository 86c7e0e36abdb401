"""The real `mzsim validate`, run as a subprocess."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / "shared" / "fixtures"  # CI clones the repo with ../shared/ beside it


def mzsim_validate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mzsim", "validate", *args], cwd=REPO, input=stdin,
                          capture_output=True, text=True, timeout=60)


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*") if p.suffix in (".yaml", ".yml", ".json"))


def test_every_fixture_is_valid():
    files = fixture_files()
    assert files, f"no fixtures found in {FIXTURES}"
    r = mzsim_validate(*(a for f in files for a in ("-f", str(f))))
    assert r.returncode == 0, r.stdout + r.stderr
    for f in files:
        assert f"{f}: Mesh default: valid" in r.stdout.splitlines()


INVALID_MESHES = """\
type: Mesh
name: default
mtls:
  enabledBackend: vault-2
  backends:
  - name: vault-1
    type: vault
    dpCert:
      rotation:
        expiration: 1h30m
    conf:
      fromCp:
        address: vault.8200
        pki: kmesh-pki-default
        role: dataplane-proxies
        auth:
          tls:
            clientKey: {secret: sec-2}
            clientCert: {file: /tmp/cert.pem}
            aws: {type: IAM}
---
apiVersion: kuma.io/v1alpha1
kind: Mesh
metadata:
  name: other
spec:
  mtls:
    enabledBackend: acmpca-1
    backends:
    - name: acmpca-1
      type: acmpca
      conf:
        arn: "arn:aws:acm-pca:region:account:certificate-authority/1"
        auth:
          awsCredentials:
            accessKey: {secret: sec-2}
"""


def test_invalid_meshes_exit_1_with_field_paths(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(INVALID_MESHES)
    good = FIXTURES / "builtin-universal.yaml"
    r = mzsim_validate("-f", str(bad), "-f", str(good))
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    prefixes = {line.split(": ", 2)[0] + ": " + line.split(": ", 2)[1] for line in lines}
    assert prefixes == {
        f"{bad}[1]: mtls.enabledBackend",
        f"{bad}[1]: mtls.backends[0].dpCert.rotation.expiration",
        f"{bad}[1]: mtls.backends[0].conf.fromCp.address",
        f"{bad}[1]: mtls.backends[0].conf.fromCp.auth.tls.aws",
        f"{bad}[2]: mtls.backends[0].conf.auth.awsCredentials.accessKeySecret",
        f"{good}: Mesh default",
    }
    assert f"{good}: Mesh default: valid" in lines


def test_unparsable_file_says_where(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("type: Mesh\nname: default\nmtls:\n  backends: [\n    {name: a\n")
    r = mzsim_validate("-f", str(broken))
    assert r.returncode == 1
    assert str(broken) in r.stdout and "line 6, column 1" in r.stdout, r.stdout


@pytest.mark.parametrize("args,stdin,rc,expect", [
    (("-f", "-"), "type: Zone\nname: zone-1\n", 0, "<stdin>: Zone zone-1: valid"),
    (("-f", "-"), "", 1, "<stdin>: no resources found; expected a YAML or JSON document"),
    (("-f", "/nonexistent/mesh.yaml"), None, 1, "/nonexistent/mesh.yaml: cannot read: No such file or directory"),
])
def test_stdin_and_missing_files(args, stdin, rc, expect):
    r = mzsim_validate(*args, stdin=stdin)
    assert r.returncode == rc
    assert expect in r.stdout.splitlines(), r.stdout


def test_help_documents_output_and_offline_mode():
    r = mzsim_validate("--help")
    assert r.returncode == 0
    assert "FILE[N]" in r.stdout and "not" in r.stdout and "read" in r.stdout


@pytest.mark.parametrize("text", ["foo: bar\n", "- 1\n- 2\n", "just words\n"], ids=["mapping", "list", "scalar"])
def test_a_file_that_holds_no_resource_says_so_and_shows_what_one_looks_like(tmp_path, text):
    f = tmp_path / "notes.yaml"
    f.write_text(text)
    r = mzsim_validate("-f", str(f))
    assert r.returncode == 1
    [line] = r.stdout.splitlines()
    assert line.startswith(f"{f}: ") and "holds no resource" in line, line
    assert "type: Mesh, name: default" in line and "kind: Mesh" in line
    assert "None" not in line
