"""The resource model: both forms, the Kubernetes Secret form, round trips."""
from __future__ import annotations

import base64

import pytest

from common.errors import BadRequest, ValidationError
from common.resources import Resource, load_documents, parse_resource, parse_text, secret, to_kubernetes, to_universal

VALUE = base64.b64encode(b"-----BEGIN CERTIFICATE-----").decode()
MTLS = {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin",
                                                "dpCert": {"rotation": {"expiration": "1d"}}}]}


def test_both_mesh_forms_parse_to_the_same_resource():
    universal = parse_text("type: Mesh\nname: default\nmtls:\n  enabledBackend: ca-1\n  backends:\n"
                           "  - name: ca-1\n    type: builtin\n    dpCert: {rotation: {expiration: 1d}}\n")
    kubernetes = parse_text("apiVersion: kuma.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: default\nspec:\n"
                            "  mtls:\n    enabledBackend: ca-1\n    backends:\n    - name: ca-1\n      type: builtin\n"
                            "      dpCert: {rotation: {expiration: 1d}}\n")
    assert universal == kubernetes == [Resource("Mesh", "default", None, {"mtls": MTLS})]


def test_kubernetes_secret_form():
    doc = {"apiVersion": "v1", "kind": "Secret", "type": "system.kuma.io/secret",
           "metadata": {"name": "sec-1", "namespace": "kong-mesh-system", "labels": {"kuma.io/mesh": "east"}},
           "data": {"value": VALUE}}
    res = parse_resource(doc)
    assert (res.kind, res.name, res.mesh, res.spec) == ("Secret", "sec-1", "east", {"data": VALUE})
    assert res.secret_bytes() == b"-----BEGIN CERTIFICATE-----"
    assert to_kubernetes(res) == doc


def test_kubernetes_secret_defaults_and_global_secret():
    doc = {"apiVersion": "v1", "kind": "Secret", "type": "system.kuma.io/secret",
           "metadata": {"name": "sec-1"}, "data": {"value": VALUE}}
    assert parse_resource(doc).mesh == "default"  # no label: the default mesh, as Kuma
    doc["type"] = "system.kuma.io/global-secret"
    res = parse_resource(doc)
    assert (res.kind, res.mesh) == ("GlobalSecret", None)


@pytest.mark.parametrize("change,field", [
    ({"type": "Opaque"}, "type"),
    ({"data": {"value": "%%%"}}, "data.value"),
    ({"data": {}}, "data.value"),
    ({"metadata": {"name": "sec-1", "namespace": "default"}}, "metadata.namespace"),
    ({"metadata": {}}, "metadata.name"),
    ({"apiVersion": "v2"}, "apiVersion"),
])
def test_kubernetes_secret_errors_name_the_field(change, field):
    doc = {"apiVersion": "v1", "kind": "Secret", "type": "system.kuma.io/secret",
           "metadata": {"name": "sec-1", "namespace": "kong-mesh-system"}, "data": {"value": VALUE}}
    doc.update(change)
    with pytest.raises(ValidationError) as e:
        parse_resource(doc)
    assert [c.field for c in e.value.causes] == [field]


@pytest.mark.parametrize("doc,field", [
    ({"type": "Nope", "name": "x"}, "type"),
    ({"type": "Mesh"}, "name"),
    ({"type": "Dataplane", "name": "dp"}, "mesh"),
    ({"type": "Zone", "name": "z", "mesh": "default"}, "mesh"),
    ({"apiVersion": "kuma.io/v1", "kind": "Mesh", "metadata": {"name": "m"}}, "apiVersion"),
    ({"apiVersion": "kuma.io/v1alpha1", "kind": "Dataplane", "metadata": {"name": "dp"}},
     "metadata.labels[kuma.io/mesh]"),
    (["not", "a", "mapping"], ""),
])
def test_parse_errors_name_the_field(doc, field):
    with pytest.raises(ValidationError) as e:
        parse_resource(doc)
    assert field in [c.field for c in e.value.causes]


ROUND_TRIP = [
    Resource("Mesh", "default", None, {"mtls": MTLS}),
    Resource("Mesh", "empty", None, {}),
    Resource("Dataplane", "web-1", "default", {"networking": {
        "address": "10.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web"}}]}}),
    Resource("Dataplane", "web-2", "east", {"networking": {"address": "10.0.0.2"}}, {"labels": {"team": "a"}}),
    Resource("Zone", "zone-1", None, {"enabled": True}),
    Resource("ZoneInsight", "zone-1", None, {"subscriptions": []}),
    Resource("DataplaneInsight", "web-1", "default", {"mTLS": {"issuedBackend": "ca-1"}}),
    secret("sec-1", b"\x00\x01binary", mesh="east"),
    secret("g-1", "text", kind="GlobalSecret"),
]


@pytest.mark.parametrize("res", ROUND_TRIP, ids=lambda r: f"{r.kind}-{r.name}")
def test_round_trip_kubernetes(res):
    assert parse_resource(to_kubernetes(res)) == res


@pytest.mark.parametrize("res", ROUND_TRIP, ids=lambda r: f"{r.kind}-{r.name}")
def test_round_trip_universal(res):
    assert parse_resource(to_universal(res, with_meta=True)) == res


def test_round_trip_through_yaml_text():
    from common.resources import dump_yaml

    text = dump_yaml([to_kubernetes(r) for r in ROUND_TRIP[:4]] + [to_universal(r) for r in ROUND_TRIP[4:]])
    assert parse_text(text) == ROUND_TRIP


def test_load_documents_reports_line_and_column():
    with pytest.raises(BadRequest) as e:
        load_documents("type: Mesh\nname: [a\n", "mesh.yaml")
    assert "mesh.yaml" in str(e.value) and "line 3, column 1" in str(e.value)


def test_redacted_secret_has_no_value():
    res = secret("sec-1", "hunter2", mesh="default")
    assert "hunter2" not in repr(res.redacted()) and VALUE not in repr(res.redacted())
    assert res.redacted().spec == {}
