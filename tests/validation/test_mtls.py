"""Mesh `mtls`: Kuma's resource rules and the manager's backend checks."""
from __future__ import annotations

import pytest

from common.resources import Resource
from common.validation import validate_mesh, validate_mesh_update


def builtin_mesh(**mtls) -> dict:
    base = {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}
    base.update(mtls)
    return {"type": "Mesh", "name": "default", "mtls": base}


def test_builtin_mesh_is_valid(violations):
    assert violations(builtin_mesh()) == []


def test_mesh_without_mtls_is_valid(violations):
    assert violations({"type": "Mesh", "name": "default"}) == []


def test_enabled_backend_must_name_a_backend(violations):
    vs = violations(builtin_mesh(enabledBackend="ca-2"))
    assert [v.field for v in vs] == ["mtls.enabledBackend"]
    assert "has to be set to one of the backends in the mesh" in vs[0].message
    assert "ca-1" in vs[0].message  # names the choices


def test_enabled_backend_without_backends(fields):
    assert fields({"type": "Mesh", "name": "m", "mtls": {"enabledBackend": "ca-1"}}) == {"mtls.enabledBackend"}


@pytest.mark.parametrize("enabled", ["", None])
def test_empty_enabled_backend_disables_mtls(violations, enabled):
    doc = builtin_mesh()
    doc["mtls"]["enabledBackend"] = enabled
    assert violations(doc) == []


def test_duplicate_backend_names(fields):
    doc = builtin_mesh(backends=[{"name": "ca-1", "type": "builtin"}, {"name": "ca-1", "type": "builtin"}])
    # Kuma v2.14 also allows a single backend per mesh.
    assert fields(doc) == {"mtls.backends", "mtls.backends[1].name"}


def test_more_backends_allowed_with_a_higher_limit():
    res = Resource("Mesh", "default", None, {"mtls": {"enabledBackend": "a", "backends": [
        {"name": "a", "type": "builtin"}, {"name": "b", "type": "builtin"}]}})
    assert validate_mesh(res, max_backends=2) == []
    assert [v.field for v in validate_mesh(res)] == ["mtls.backends"]


@pytest.mark.parametrize("name", ["CA-1", "ca_1", "-ca", "ca-", "ca 1", "ca/1"])
def test_backend_name_must_be_lowercase_dns(fields, name):
    doc = builtin_mesh(enabledBackend=name, backends=[{"name": name, "type": "builtin"}])
    assert fields(doc) == {"mtls.backends[0].name"}


@pytest.mark.parametrize("name", ["ca-1", "a", "vault.primary", "x" * 63])
def test_backend_name_accepted(violations, name):
    assert violations(builtin_mesh(enabledBackend=name, backends=[{"name": name, "type": "builtin"}])) == []


def test_backend_name_required(fields):
    doc = builtin_mesh(enabledBackend="", backends=[{"type": "builtin"}])
    assert fields(doc) == {"mtls.backends[0].name"}


def test_builtin_backend_name_too_long_for_its_ca_secret(violations):
    name = "b" * 230  # a valid name, but "default.ca-builtin-cert-" + name exceeds 253
    vs = violations(builtin_mesh(enabledBackend=name, backends=[{"name": name, "type": "builtin"}]))
    assert [v.field for v in vs] == ["mtls.backends[0].name"]
    assert "shorten" in vs[0].message


@pytest.mark.parametrize("btype,message", [("bogus", "could not find installed plugin"), ("", "is required"),
                                           (None, "is required")])
def test_backend_type_must_be_known(violations, btype, message):
    backend = {"name": "ca-1"}
    if btype is not None:
        backend["type"] = btype
    vs = violations(builtin_mesh(backends=[backend]))
    assert [v.field for v in vs] == ["mtls.backends[0].type"]
    assert message in vs[0].message and "builtin, provided, vault, acmpca, certmanager" in vs[0].message


@pytest.mark.parametrize("exp", ["500ms", "90m", "24h", "1d", "2w", "2y", "0", "30s"])
def test_rotation_expiration_accepted(violations, exp):
    doc = builtin_mesh(backends=[{"name": "ca-1", "type": "builtin", "dpCert": {"rotation": {"expiration": exp}}}])
    assert violations(doc) == []


@pytest.mark.parametrize("exp", ["1h30m", "1.5h", "24", "", "junk", "-1h", "1x", 24, None])
def test_rotation_expiration_rejected(violations, exp):
    doc = builtin_mesh(backends=[{"name": "ca-1", "type": "builtin", "dpCert": {"rotation": {"expiration": exp}}}])
    vs = violations(doc)
    assert [v.field for v in vs] == ["mtls.backends[0].dpCert.rotation.expiration"]
    assert "24h" in vs[0].message


def test_dp_cert_request_timeout_and_mode(fields, violations):
    ok = {"name": "ca-1", "type": "builtin", "mode": "PERMISSIVE", "rootChain": {"requestTimeout": "10s"},
          "dpCert": {"rotation": {"expiration": "1d"}, "requestTimeout": "1m30s"}}
    assert violations(builtin_mesh(backends=[ok])) == []
    bad = {"name": "ca-1", "type": "builtin", "mode": "LAX", "rootChain": {"requestTimeout": "soon"},
           "dpCert": {"rotation": {"expiration": "1d"}, "requestTimeout": "x"}}
    assert fields(builtin_mesh(backends=[bad])) == {
        "mtls.backends[0].mode", "mtls.backends[0].rootChain.requestTimeout", "mtls.backends[0].dpCert.requestTimeout"}


def test_unknown_fields_rejected_with_their_path(fields):
    doc = builtin_mesh(backends=[{"name": "ca-1", "type": "builtin", "extra": 1,
                                  "dpCert": {"rotation": {"expiration": "1d", "jitter": "1h"}}}], strict=True)
    doc["mtlsBackend"] = "x"
    assert fields(doc) == {"mtls.strict", "mtls.backends[0].extra",
                           "mtls.backends[0].dpCert.rotation.jitter", "mtlsBackend"}


def test_skip_validation_must_be_bool(fields, violations):
    assert violations(builtin_mesh(skipValidation=True)) == []
    assert fields(builtin_mesh(skipValidation="yes")) == {"mtls.skipValidation"}


@pytest.mark.parametrize("section", [[], "x", 3])
def test_mtls_shapes(fields, section):
    assert fields({"type": "Mesh", "name": "m", "mtls": section}) == {"mtls"}


def test_backends_must_be_a_list_of_mappings(fields):
    assert fields(builtin_mesh(enabledBackend="", backends={"name": "ca-1"})) == {"mtls.backends"}
    assert fields(builtin_mesh(enabledBackend="", backends=["ca-1"])) == {"mtls.backends[0]"}


@pytest.mark.parametrize("name", ["m" * 63, "default", "a.b", "mesh-1"])
def test_mesh_name_accepted(violations, name):
    assert violations({"type": "Mesh", "name": name}) == []


@pytest.mark.parametrize("name", ["m" * 64, "Default", "my_mesh", "-m", "m-"])
def test_mesh_name_rejected(violations, name):
    vs = violations({"type": "Mesh", "name": name})
    assert [v.field for v in vs] == ["name"]


def test_every_violation_reported_at_once(fields):
    doc = {"type": "Mesh", "name": "Bad_Name", "color": "blue", "mtls": {
        "enabledBackend": "nope",
        "backends": [{"name": "vault-1", "type": "vault", "dpCert": {"rotation": {"expiration": "1x"}},
                      "conf": {"fromCp": {"address": "vault:8200", "pki": "p", "auth": {}}}}]}}
    assert fields(doc) == {
        "name", "color", "mtls.enabledBackend", "mtls.backends[0].dpCert.rotation.expiration",
        "mtls.backends[0].conf.fromCp.address", "mtls.backends[0].conf.fromCp.role",
        "mtls.backends[0].conf.fromCp.auth"}


def test_kubernetes_form_has_the_same_paths(fields):
    doc = {"apiVersion": "kuma.io/v1alpha1", "kind": "Mesh", "metadata": {"name": "default"},
           "spec": {"mtls": {"enabledBackend": "x", "backends": [{"name": "ca-1", "type": "builtin"}]}}}
    assert fields(doc) == {"mtls.enabledBackend"}


def _mesh(enabled: str) -> Resource:
    return Resource("Mesh", "default", None, {"mtls": {"enabledBackend": enabled, "backends": [
        {"name": "a", "type": "builtin"}, {"name": "b", "type": "builtin"}]}})


def test_update_cannot_switch_ca_while_mtls_enabled():
    vs = validate_mesh_update(_mesh("a"), _mesh("b"))
    assert [v.field for v in vs] == ["mtls.enabledBackend"]
    assert "Disable mTLS first" in vs[0].message
    assert validate_mesh_update(_mesh("a"), _mesh("")) == []  # disable first
    assert validate_mesh_update(_mesh(""), _mesh("b")) == []  # then enable another
    assert validate_mesh_update(_mesh("a"), _mesh("a")) == []
