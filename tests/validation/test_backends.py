"""Per-type backend conf, through the Mesh and through validate_backend_conf."""
from __future__ import annotations

import pytest

from common.ca.registry import KNOWN_TYPES as REGISTRY_TYPES
from common.validation import KNOWN_TYPES, validate_backend_conf

C = "mtls.backends[0].conf"


def test_validation_knows_the_registry_types():
    assert set(KNOWN_TYPES) == set(REGISTRY_TYPES)


def test_validate_backend_conf_uses_the_given_path():
    vs = validate_backend_conf("provided", {"cert": {"secret": "c"}}, "mtls.backends[3].conf")
    assert [v.field for v in vs] == ["mtls.backends[3].conf.key"]
    assert "data source" in vs[0].message
    assert validate_backend_conf("provided", {"cert": {"secret": "c"}, "key": {"file": "/k"}}, "c") == []
    assert [v.field for v in validate_backend_conf("nope", {}, "mtls.backends[0].conf")] == ["mtls.backends[0].type"]
    assert [v.field for v in validate_backend_conf("builtin", ["x"], "c")] == ["c"]


# -- builtin ---------------------------------------------------------------------

@pytest.mark.parametrize("conf", [None, {}, {"caCert": {"RSAbits": 2048, "expiration": "10y"}},
                                  {"caCert": {"RSAbits": 4096}}, {"caCert": {"keyType": "ec", "expiration": "1y"}},
                                  {"caCert": {"keyType": "rsa", "RSAbits": 3072}}])
def test_builtin_accepted(violations, mesh_with, conf):
    assert violations(mesh_with("builtin", conf)) == []


@pytest.mark.parametrize("ca,paths", [
    ({"RSAbits": 1024}, {f"{C}.caCert.RSAbits"}),
    ({"RSAbits": "2048"}, {f"{C}.caCert.RSAbits"}),
    ({"RSAbits": 65536}, {f"{C}.caCert.RSAbits"}),
    ({"RSAbits": True}, {f"{C}.caCert.RSAbits"}),
    ({"expiration": "10 years"}, {f"{C}.caCert.expiration"}),
    ({"expiration": "0"}, {f"{C}.caCert.expiration"}),
    ({"expiration": "0d"}, {f"{C}.caCert.expiration"}),
    ({"keyType": "dsa"}, {f"{C}.caCert.keyType"}),
    ({"keyType": "ec", "RSAbits": 2048}, {f"{C}.caCert.RSAbits"}),
    ({"rsaBits": 2048}, {f"{C}.caCert.rsaBits"}),
])
def test_builtin_rejected(fields, mesh_with, ca, paths):
    assert fields(mesh_with("builtin", {"caCert": ca})) == paths


def test_builtin_unknown_conf_field(fields, mesh_with):
    assert fields(mesh_with("builtin", {"cert": {"secret": "x"}})) == {f"{C}.cert"}


# -- provided --------------------------------------------------------------------

def test_provided(fields, violations, mesh_with):
    assert violations(mesh_with("provided", {"cert": {"secret": "ca-cert"}, "key": {"file": "/etc/ca.key"}})) == []
    assert fields(mesh_with("provided", None)) == {f"{C}.cert", f"{C}.key"}
    assert fields(mesh_with("provided", {"cert": {"secret": "c"}, "key": {}})) == {f"{C}.key"}


# -- vault -----------------------------------------------------------------------

def vault_conf(**from_cp) -> dict:
    base = {"address": "https://vault.example.com:8200", "pki": "kmesh-pki-default", "role": "dataplane-proxies",
            "auth": {"token": {"secret": "token-1"}}}
    base.update(from_cp)
    return {"fromCp": {k: v for k, v in base.items() if v is not None}}


F = f"{C}.fromCp"


@pytest.mark.parametrize("from_cp", [
    {},
    {"agentAddress": "http://127.0.0.1:8100", "namespace": "ns1", "commonName": '{{ tag "kuma.io/service" }}.mesh'},
    {"tls": {"caCert": {"inline": "LS0tLS1CRUdJTi0tLS0t"}, "skipVerify": True, "serverName": "vault"}},
    {"auth": {"tls": {"clientKey": {"secret": "k"}, "clientCert": {"file": "/tmp/cert.pem"}}}},
    {"auth": {"aws": {"type": "EC2", "role": "r", "iamServerIdHeader": "example.com"}}},
    {"auth": {"aws": None}},
    {"auth": {"aws": {}}},
    {"auth": None, "agentAddress": "http://127.0.0.1:8100"},
    {"address": "http://127.0.0.1:8200"},
])
def test_vault_accepted(violations, mesh_with, from_cp):
    assert violations(mesh_with("vault", vault_conf(**from_cp))) == []


@pytest.mark.parametrize("from_cp,paths", [
    ({"address": None}, {f"{F}.address"}),
    ({"address": "vault:8200"}, {f"{F}.address"}),
    ({"address": "ftp://vault"}, {f"{F}.address"}),
    ({"address": "https://"}, {f"{F}.address"}),
    ({"address": "https://vault:99999"}, {f"{F}.address"}),
    ({"agentAddress": "127.0.0.1:8100"}, {f"{F}.agentAddress"}),
    ({"pki": None, "role": ""}, {f"{F}.pki", f"{F}.role"}),
    ({"namespace": 3}, {f"{F}.namespace"}),
    ({"commonName": "{{ .Service }}.mesh"}, {f"{F}.commonName"}),
    ({"tls": {"caCert": {"secret": "a", "file": "/b"}}}, {f"{F}.tls.caCert"}),
    ({"tls": {"skipVerify": "no"}}, {f"{F}.tls.skipVerify"}),
    ({"tls": {"serverName": 1, "sni": "x"}}, {f"{F}.tls.serverName", f"{F}.tls.sni"}),
    ({"auth": None}, {f"{F}.auth"}),
    ({"auth": {}}, {f"{F}.auth"}),
    ({"auth": {"token": {"secret": "t"}, "aws": {}}}, {f"{F}.auth"}),
    ({"auth": {"kubernetes": {}}}, {f"{F}.auth.kubernetes", f"{F}.auth"}),
    ({"auth": {"token": "s.abcdef"}}, {f"{F}.auth.token"}),
    ({"auth": {"tls": {"clientKey": {"secret": "k"}}}}, {f"{F}.auth.tls.clientCert"}),
    ({"auth": {"tls": {"clientCert": {"secret": "k"}}}}, {f"{F}.auth.tls.clientKey"}),
    ({"auth": {"aws": {"type": "GCP"}}}, {f"{F}.auth.aws.type"}),
    ({"auth": {"aws": {"role": 5}}}, {f"{F}.auth.aws.role"}),
    ({"auth": {"aws": "IAM"}}, {f"{F}.auth.aws"}),
])
def test_vault_rejected(fields, mesh_with, from_cp, paths):
    assert fields(mesh_with("vault", vault_conf(**from_cp))) == paths


def test_vault_from_cp_required(fields, mesh_with):
    assert fields(mesh_with("vault", {})) == {F}
    assert fields(mesh_with("vault", {"fromCp": {}, "fromAgent": {}})) == {
        f"{C}.fromAgent", f"{F}.address", f"{F}.pki", f"{F}.role", f"{F}.auth"}


def test_vault_aws_nested_under_tls_says_to_move_it(violations, mesh_with):
    # The seed's Universal example nests aws under auth.tls.
    conf = vault_conf(auth={"tls": {"clientKey": {"secret": "sec-2"}, "clientCert": {"file": "/tmp/cert.pem"},
                                    "aws": {"type": "IAM", "role": "role-name"}}})
    vs = violations(mesh_with("vault", conf))
    assert [v.field for v in vs] == [f"{F}.auth.tls.aws"]
    assert f"move `aws` up one level to {F}.auth.aws" in vs[0].message


# -- acmpca ----------------------------------------------------------------------

ARN = "arn:aws:acm-pca:region:account:certificate-authority/12345678-1234-1234-1234-123456789012"


@pytest.mark.parametrize("conf", [
    {"arn": ARN},
    {"arn": "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/abc"},
    {"arn": "arn:aws-us-gov:acm-pca:us-gov-west-1:123456789012:certificate-authority/abc"},
    {"arn": ARN, "commonName": '{{ tag "kuma.io/service" }}.mesh', "caCert": {"secret": "sec-1"},
     "auth": {"awsCredentials": {"accessKey": {"secret": "k"}, "accessKeySecret": {"inlineString": "s"}}}},
    {"arn": ARN, "auth": {}},
    {"arn": ARN, "auth": {"awsCredentials": {}}},
])
def test_acmpca_accepted(violations, mesh_with, conf):
    assert violations(mesh_with("acmpca", conf)) == []


@pytest.mark.parametrize("conf,paths", [
    ({}, {f"{C}.arn"}),
    ({"arn": "arn:aws:acm:us-east-1:1:certificate/abc"}, {f"{C}.arn"}),
    ({"arn": "arn:aws:acm-pca:us-east-1:1:certificate-authority/"}, {f"{C}.arn"}),
    ({"arn": "arn:aws:acm-pca:us-east-1:1:certificate-authority/a/certificate/b"}, {f"{C}.arn"}),
    ({"arn": ARN, "commonName": "{{ tag kuma.io/service }}"}, {f"{C}.commonName"}),
    ({"arn": ARN, "caCert": {"inline": "%%%"}}, {f"{C}.caCert.inline"}),
    ({"arn": ARN, "auth": {"awsCredentials": {"accessKey": {"secret": "k"}}}},
     {f"{C}.auth.awsCredentials.accessKeySecret"}),
    ({"arn": ARN, "auth": {"awsCredentials": {"accessKeySecret": {"secret": "k"}}}},
     {f"{C}.auth.awsCredentials.accessKey"}),
    ({"arn": ARN, "auth": {"awsCredentials": {"accessKey": {"secret": "k"}, "accessKeySecret": {},
                                              "sessionToken": {"secret": "t"}}}},
     {f"{C}.auth.awsCredentials.accessKeySecret", f"{C}.auth.awsCredentials.sessionToken"}),
    ({"arn": ARN, "region": "us-east-1"}, {f"{C}.region"}),
])
def test_acmpca_rejected(fields, mesh_with, conf, paths):
    assert fields(mesh_with("acmpca", conf)) == paths


# -- certmanager -----------------------------------------------------------------

@pytest.mark.parametrize("conf", [
    {"issuerRef": {"name": "my-ca-issuer"}},
    {"issuerRef": {"name": "my-ca-issuer", "kind": "ClusterIssuer", "group": "cert-manager.io"},
     "commonName": '{{ tag "kuma.io/service" }}.mesh', "caCert": {"secret": "ca"}, "dnsNames": ["a.example.com"]},
    {"issuerRef": {"name": "pca", "kind": "AWSPCAClusterIssuer", "group": "awspca.cert-manager.io"}},
    {"issuerRef": {"name": "g", "kind": "GoogleCASIssuer", "group": "cas-issuer.jetstack.io"}},
])
def test_certmanager_accepted(violations, mesh_with, conf):
    assert violations(mesh_with("certmanager", conf)) == []


@pytest.mark.parametrize("conf,paths", [
    ({}, {f"{C}.issuerRef"}),
    ({"issuerRef": {"kind": "Issuer"}}, {f"{C}.issuerRef.name"}),
    ({"issuerRef": {"name": "x", "kind": "Issuers"}}, {f"{C}.issuerRef.kind"}),
    ({"issuerRef": {"name": "x", "kind": "AWSPCAClusterIssuer"}}, {f"{C}.issuerRef.kind"}),
    ({"issuerRef": {"name": "x", "kind": "AWSPCAClusterIssuer", "group": "cert-manager.io"}},
     {f"{C}.issuerRef.kind"}),
    ({"issuerRef": {"name": "x", "kind": "not a kind", "group": "awspca.cert-manager.io"}},
     {f"{C}.issuerRef.kind"}),
    ({"issuerRef": {"name": "x", "group": "not a group"}}, {f"{C}.issuerRef.group"}),
    ({"issuerRef": {"name": "x", "namespace": "ns"}}, {f"{C}.issuerRef.namespace"}),
    ({"issuerRef": "x"}, {f"{C}.issuerRef"}),
    ({"issuerRef": {"name": "x"}, "dnsNames": "a.example.com"}, {f"{C}.dnsNames"}),
    ({"issuerRef": {"name": "x"}, "dnsNames": ["ok.example", "bad name"]}, {f"{C}.dnsNames[1]"}),
    ({"issuerRef": {"name": "x"}, "commonName": "{{"}, {f"{C}.commonName"}),
])
def test_certmanager_rejected(fields, mesh_with, conf, paths):
    assert fields(mesh_with("certmanager", conf)) == paths
