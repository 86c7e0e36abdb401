"""Secret, GlobalSecret, Zone and ZoneInsight, in both forms."""
from __future__ import annotations

import base64

import pytest

VALUE = base64.b64encode(b"s3cr3t-value").decode()


def k8s_secret(**over) -> dict:
    doc = {"apiVersion": "v1", "kind": "Secret", "type": "system.kuma.io/secret",
           "metadata": {"name": "sec-1", "namespace": "kong-mesh-system", "labels": {"kuma.io/mesh": "default"}},
           "data": {"value": VALUE}}
    doc.update(over)
    return doc


def test_secret_universal(violations, fields):
    base = {"type": "Secret", "mesh": "default", "name": "sec-1"}
    assert violations({**base, "data": VALUE}) == []
    assert fields(base) == {"data"}
    assert fields({**base, "data": ""}) == {"data"}
    assert fields({**base, "data": "not base64!"}) == {"data"}
    assert fields({**base, "data": 12}) == {"data"}
    assert fields({**base, "data": VALUE, "value": "x"}) == {"value"}
    assert fields({"type": "Secret", "name": "sec-1", "data": VALUE}) == {"mesh"}


def test_secret_messages_never_contain_the_value(violations):
    vs = violations({"type": "Secret", "mesh": "default", "name": "sec-1", "data": "hunter2 password"})
    assert vs and all("hunter2" not in v.message for v in vs)


def test_global_secret(violations, fields):
    assert violations({"type": "GlobalSecret", "name": "g-1", "data": VALUE}) == []
    assert fields({"type": "GlobalSecret", "name": "g-1", "mesh": "default", "data": VALUE}) == {"mesh"}


def test_secret_kubernetes_form(violations, fields):
    assert violations(k8s_secret()) == []
    assert violations(k8s_secret(type="system.kuma.io/global-secret")) == []
    assert fields(k8s_secret(data={"value": "%%%"})) == {"data.value"}
    assert fields(k8s_secret(data={})) == {"data.value"}
    assert fields(k8s_secret(type="Opaque")) == {"type"}
    assert fields(k8s_secret(metadata={"name": "sec-1", "namespace": "default"})) == {"metadata.namespace"}
    assert fields(k8s_secret(data={"value": ""})) == {"data"}


@pytest.mark.parametrize("doc,paths", [
    ({"type": "Zone", "name": "zone-1"}, set()),
    ({"type": "Zone", "name": "zone-1", "enabled": False}, set()),
    ({"type": "Zone", "name": "zone-1", "enabled": "no"}, {"enabled"}),
    ({"type": "Zone", "name": "Zone 1"}, {"name"}),
    ({"type": "Zone", "name": "zone-1", "address": "x"}, {"address"}),
    ({"type": "Zone", "name": "zone-1", "mesh": "default"}, {"mesh"}),
    ({"apiVersion": "kuma.io/v1alpha1", "kind": "Zone", "metadata": {"name": "zone-1"}, "spec": {"enabled": True}},
     set()),
    ({"type": "ZoneInsight", "name": "zone-1", "subscriptions": [{"globalInstanceId": "g"}]}, set()),
    ({"type": "ZoneInsight", "name": "zone-1", "subscriptions": "x"}, {"subscriptions"}),
    ({"type": "Thing", "name": "x"}, {"type"}),
    ({"apiVersion": "kuma.io/v1alpha1", "kind": "Mesh", "metadata": {"name": "m"}, "spec": "x"}, {"spec"}),
])
def test_zone_and_zone_insight(fields, doc, paths):
    assert fields(doc) == paths
