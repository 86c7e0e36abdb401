"""Dataplane (and its Kubernetes form) and DataplaneInsight."""
from __future__ import annotations

import pytest


def dataplane(**networking) -> dict:
    net = {"address": "10.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web", "version": "v1"}}]}
    net.update(networking)
    return {"type": "Dataplane", "mesh": "default", "name": "web-1",
            "networking": {k: v for k, v in net.items() if v is not None}}


@pytest.mark.parametrize("networking", [
    {},
    {"address": "web-1.internal"},
    {"address": "fd00::1"},
    {"inbound": [{"port": 1, "servicePort": 65535, "serviceAddress": "127.0.0.1", "state": "Ready",
                  "tags": {"kuma.io/service": "web_default_svc_80", "kuma.io/protocol": "http", "team": "a:b"}}]},
    {"outbound": [{"port": 10001, "tags": {"kuma.io/service": "db"}}]},
    {"inbound": None, "gateway": {"tags": {"kuma.io/service": "edge"}, "type": "BUILTIN"}},
])
def test_accepted(violations, networking):
    assert violations(dataplane(**networking)) == []


@pytest.mark.parametrize("networking,paths", [
    ({"address": None}, {"networking.address"}),
    ({"address": "0.0.0.0"}, {"networking.address"}),
    ({"address": "not an address"}, {"networking.address"}),
    ({"address": "-bad-.example"}, {"networking.address"}),
    ({"inbound": []}, {"networking.inbound"}),
    ({"inbound": None}, {"networking.inbound"}),
    ({"inbound": {"port": 1}}, {"networking.inbound"}),
    ({"inbound": [{"port": 0, "tags": {"kuma.io/service": "web"}}]}, {"networking.inbound[0].port"}),
    ({"inbound": [{"port": 65536, "tags": {"kuma.io/service": "web"}}]}, {"networking.inbound[0].port"}),
    ({"inbound": [{"port": "80", "tags": {"kuma.io/service": "web"}}]}, {"networking.inbound[0].port"}),
    ({"inbound": [{"port": 80}]}, {"networking.inbound[0].tags"}),
    ({"inbound": [{"port": 80, "tags": {"version": "v1"}}]}, {'networking.inbound[0].tags["kuma.io/service"]'}),
    ({"inbound": [{"port": 80, "tags": {"kuma.io/service": "web", "bad tag": "x", "v": "a b", "e": ""}}]},
     {'networking.inbound[0].tags["bad tag"]', 'networking.inbound[0].tags["v"]', 'networking.inbound[0].tags["e"]'}),
    ({"inbound": [{"port": 80, "tags": {"kuma.io/service": "web", 80: "x", "v": 1}}]},
     {'networking.inbound[0].tags["80"]', 'networking.inbound[0].tags["v"]'}),
    ({"inbound": [{"port": 80, "tags": {"kuma.io/service": "a/b"}}]},
     {'networking.inbound[0].tags["kuma.io/service"]'}),
    ({"inbound": [{"port": 80, "tags": {"kuma.io/service": "web"}, "serviceAddress": "localhost"}]},
     {"networking.inbound[0].serviceAddress"}),
    ({"inbound": [{"port": 80, "tags": {"kuma.io/service": "web"}, "weight": 3}]},
     {"networking.inbound[0].weight"}),
    ({"outbound": [{"port": 10001}]}, {"networking.outbound[0].tags"}),
    ({"gateway": {"tags": {"kuma.io/service": "edge"}}}, {"networking.inbound"}),
    ({"inbound": None, "gateway": {"tags": {}}}, {'networking.gateway.tags["kuma.io/service"]'}),
    ({"mtu": 1500}, {"networking.mtu"}),
])
def test_rejected(fields, networking, paths):
    assert fields(dataplane(**networking)) == paths


def test_networking_required_and_unknown_spec_fields(fields):
    assert fields({"type": "Dataplane", "mesh": "default", "name": "web-1"}) == {"networking"}
    doc = dataplane()
    doc["sidecar"] = True
    assert fields(doc) == {"sidecar"}


def test_mesh_and_name(fields):
    assert fields({**dataplane(), "name": "Web_1"}) == {"name"}
    assert fields({**dataplane(), "mesh": "Bad Mesh"}) == {"mesh"}
    doc = dataplane()
    del doc["mesh"]
    assert fields(doc) == {"mesh"}


def test_kubernetes_form(violations, fields):
    doc = {"apiVersion": "kuma.io/v1alpha1", "kind": "Dataplane",
           "metadata": {"name": "web-1", "labels": {"kuma.io/mesh": "default"}},
           "spec": {"networking": {"address": "10.0.0.1",
                                   "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web"}}]}}}
    assert violations(doc) == []
    doc["spec"]["networking"]["inbound"][0]["tags"] = {}
    assert fields(doc) == {'networking.inbound[0].tags["kuma.io/service"]'}
    del doc["metadata"]["labels"]
    assert fields(doc) == {"metadata.labels[kuma.io/mesh]"}


def test_dataplane_insight(violations, fields):
    base = {"type": "DataplaneInsight", "mesh": "default", "name": "web-1"}
    assert violations({**base, "subscriptions": [{"id": "1"}], "mTLS": {"certificateExpirationTime": "x"}}) == []
    assert violations(base) == []
    assert fields({**base, "subscriptions": {"id": "1"}, "mTLS": "yes"}) == {"subscriptions", "mTLS"}
    assert fields({**base, "subscriptions": ["x"]}) == {"subscriptions[0]"}
