"""The one registry of backend types: secrets used, environments, building."""
from __future__ import annotations

import pytest

from common.ca import registry
from common.ca.base import BackendContext
from common.errors import BackendError
from common.resources import Resource


def mesh(*backends: dict) -> Resource:
    return Resource("Mesh", "m1", None, {"mtls": {"backends": list(backends)}})


VAULT = {"name": "v", "type": "vault", "conf": {"fromCp": {
    "address": "https://vault:8200", "pki": "p", "role": "r",
    "auth": {"token": {"secret": "vault-token"}}, "tls": {"caCert": {"secret": "vault-ca"}}}}}
ACM = {"name": "a", "type": "acmpca", "conf": {"arn": "arn:aws:acm-pca:us-east-1:1:certificate-authority/x",
                                               "auth": {"awsCredentials": {"accessKey": {"secret": "ak"},
                                                                           "accessKeySecret": {"inline": "QQ=="}}}}}
CM = {"name": "cm", "type": "certmanager", "conf": {"issuerRef": {"name": "i"}, "caCert": {"secret": "cm-ca"}}}


def test_every_type_is_registered_once_with_its_rules():
    assert registry.KNOWN_TYPES == ("builtin", "provided", "vault", "acmpca", "certmanager")
    for name, found in registry.TYPES.items():
        assert found.name == name
        assert found.backend_class().__module__ == found.runtime_module


@pytest.mark.parametrize("backend, expected", [
    ({"name": "ca-1", "type": "builtin"}, {"m1.ca-builtin-cert-ca-1", "m1.ca-builtin-key-ca-1"}),
    ({"name": "p", "type": "provided", "conf": {"cert": {"secret": "c"}, "key": {"file": "/k"}}}, {"c"}),
    (VAULT, {"vault-token", "vault-ca"}),
    (ACM, {"ak"}),
    (CM, {"cm-ca"}),
    ({"name": "x", "type": "nope", "conf": {"a": [{"secret": "s"}]}}, {"s"}),
])
def test_the_secrets_a_backend_reads(backend, expected):
    assert registry.backend_secrets("m1", backend) == expected


def test_secret_users_name_every_backend_that_reads_the_secret():
    meshes = [mesh({"name": "ca-1", "type": "builtin"}, VAULT),
              Resource("Mesh", "m2", None, {"mtls": {"backends": [VAULT]}})]
    assert registry.secret_users(meshes, "m1", "vault-token") == ["mesh m1 backend 'v'"]
    assert registry.secret_users(meshes, "m1", "m1.ca-builtin-key-ca-1") == ["mesh m1 backend 'ca-1'"]
    assert registry.secret_users(meshes, "m1", "other") == []


def test_environments():
    assert registry.zone_environments(mesh(VAULT, ACM)) == {"universal", "kubernetes"}
    assert registry.zone_environments(mesh(VAULT, CM)) == {"kubernetes"}
    assert registry.environment_problems(mesh(VAULT, CM), "kubernetes") == []
    [problem] = registry.environment_problems(mesh(VAULT, CM), "universal")
    assert "'cm' is certmanager, which works only in Kubernetes zones" in problem
    assert "--environment kubernetes" in problem


def test_build_refuses_a_type_the_environment_cannot_run():
    with pytest.raises(BackendError, match="only in Kubernetes zones") as err:
        registry.build("m1", CM, BackendContext(environment="universal"))
    assert not err.value.retryable
    with pytest.raises(registry.UnknownBackendType):
        registry.build("m1", {"type": "nope"}, BackendContext())
