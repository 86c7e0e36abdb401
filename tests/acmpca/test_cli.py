"""`mzsim acmpca setup` as a user runs it: an ACTIVE CA, its ARN and root on
stdout, or an applyable Mesh with --mesh."""
from __future__ import annotations

import os
import subprocess
import sys

import yaml

from common.resources import parse_resource
from common.validation import validate_resource
from common.x509util import load_certs

from .conftest import REPO, SETUP_KEY
from .test_errors import pca


def setup_cli(acm, tmp_path, *extra) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": SETUP_KEY, "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_ENDPOINT_URL": acm.endpoint}
    return subprocess.run([sys.executable, "-m", "mzsim", "acmpca", "setup", "--root-out",
                           str(tmp_path / "root.pem"), *extra], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60)


def test_setup_prints_the_arn_and_root(acm, tmp_path):
    done = setup_cli(acm, tmp_path, "--common-name", "cli root")
    assert done.returncode == 0, done.stderr
    arn, pem = done.stdout.split("\n", 1)
    status = pca(acm).describe_certificate_authority(CertificateAuthorityArn=arn)["CertificateAuthority"]["Status"]
    assert status == "ACTIVE"
    assert pem == (tmp_path / "root.pem").read_text()
    assert load_certs(pem)[0].subject.rfc4514_string() == "CN=cli root"


def test_setup_prints_an_applyable_mesh(acm, tmp_path):
    done = setup_cli(acm, tmp_path, "--mesh", "payments")
    assert done.returncode == 0, done.stderr
    res = parse_resource(yaml.safe_load(done.stdout))
    assert validate_resource(res) == []
    assert res.spec["mtls"]["backends"][0]["conf"]["arn"] in done.stderr


def test_setup_against_nothing_fails_clearly(tmp_path):
    from mzsim.waiting import free_port

    class Nowhere:
        endpoint = f"http://127.0.0.1:{free_port()}"

    done = setup_cli(Nowhere, tmp_path)
    assert done.returncode == 1
    assert f"error: ACM PCA endpoint {Nowhere.endpoint} is unreachable" in done.stderr
