"""Mesh top-level sections other than mtls: shape and Kuma's rules."""
from __future__ import annotations

import pytest


def mesh(**spec) -> dict:
    return {"type": "Mesh", "name": "default", **spec}


def test_full_mesh_is_valid(violations):
    doc = mesh(
        mtls={"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]},
        logging={"defaultBackend": "file", "backends": [
            {"name": "file", "type": "file", "format": "%START_TIME%", "conf": {"path": "/tmp/access.log"}},
            {"name": "tcp", "type": "tcp", "conf": {"address": "127.0.0.1:5000"}}]},
        tracing={"defaultBackend": "zipkin", "backends": [
            {"name": "zipkin", "type": "zipkin", "sampling": 50.5,
             "conf": {"url": "http://zipkin:9411/api/v2/spans", "apiVersion": "httpJson", "traceId128bit": True}},
            {"name": "dd", "type": "datadog", "conf": {"address": "datadog", "port": 8126, "splitService": True}}]},
        metrics={"enabledBackend": "prom", "backends": [
            {"name": "prom", "type": "prometheus", "conf": {
                "port": 5670, "path": "/metrics", "tags": {"kuma.io/service": "dataplane-metrics"},
                "tls": {"mode": "activeMTLSBackend"}, "envoy": {"filterRegex": "http2_act.*", "usedOnly": True},
                "aggregate": [{"name": "app", "port": 8080, "path": "/m", "enabled": True}]}}]},
        networking={"outbound": {"passthrough": False}},
        routing={"localityAwareLoadBalancing": True, "zoneEgress": True,
                 "defaultForbidMeshExternalServiceAccess": False},
        constraints={"dataplaneProxy": {"requirements": [{"tags": {"kuma.io/zone": "east"}}],
                                        "restrictions": [{"tags": {"kuma.io/service": "*"}}]}},
        meshServices={"mode": "Exclusive"},
        skipCreatingInitialPolicies=["*"],
    )
    assert violations(doc) == []


@pytest.mark.parametrize("section,bad,paths", [
    ("logging", {"defaultBackend": "x", "backends": []}, {"logging.defaultBackend"}),
    ("logging", {"backends": [{"name": "", "type": "syslog"}]},
     {"logging.backends[0].name", "logging.backends[0].type"}),
    ("logging", {"backends": [{"name": "f", "type": "file", "conf": {}}]}, {"logging.backends[0].conf.path"}),
    ("logging", {"backends": [{"name": "t", "type": "tcp", "conf": {"address": "nohost"}}]},
     {"logging.backends[0].conf.address"}),
    ("logging", {"backends": [{"name": "t", "type": "tcp", "conf": {"address": "h:1", "x": 1}}]},
     {"logging.backends[0].conf.x"}),
    ("logging", {"backends": [{"name": "a", "type": "file", "conf": {"path": "/p"}},
                              {"name": "a", "type": "file", "conf": {"path": "/q"}}]},
     {"logging.backends[1].name"}),
    ("tracing", {"backends": [{"name": "z", "type": "zipkin", "sampling": 101, "conf": {"url": "http://z/api"}}]},
     {"tracing.backends[0].sampling", "tracing.backends[0].conf.url"}),
    ("tracing", {"backends": [{"name": "z", "type": "zipkin", "conf": {"url": "http://z:9411", "apiVersion": "v9"}}]},
     {"tracing.backends[0].conf.apiVersion"}),
    ("tracing", {"backends": [{"name": "d", "type": "datadog", "conf": {"port": 0}}]},
     {"tracing.backends[0].conf.address", "tracing.backends[0].conf.port"}),
    ("tracing", {"defaultBackend": "nope"}, {"tracing.defaultBackend"}),
    ("metrics", {"enabledBackend": "p", "backends": [{"name": "p", "type": "statsd"}]},
     {"metrics.backends[0].type"}),
    ("metrics", {"backends": [{"name": "p", "type": "prometheus",
                               "conf": {"skipMTLS": True, "tls": {"mode": "providedTLS"}}}]},
     {"metrics.backends[0].conf"}),
    ("metrics", {"backends": [{"name": "p", "type": "prometheus", "conf": {"envoy": {"filterRegex": "("}}}]},
     {"metrics.backends[0].conf.envoy.filterRegex"}),
    ("metrics", {"backends": [{"name": "p", "type": "prometheus", "conf": {
        "port": 70000, "aggregate": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}}]},
     {"metrics.backends[0].conf.port", "metrics.backends[0].conf.aggregate[1].name"}),
    ("networking", {"outbound": {"passthrough": "yes"}}, {"networking.outbound.passthrough"}),
    ("networking", {"inbound": {}}, {"networking.inbound"}),
    ("routing", {"zoneEgress": "true"}, {"routing.zoneEgress"}),
    ("routing", {"zoneEgress": True}, {"mtls"}),
    ("constraints", {"dataplaneProxy": {"requirements": [{"tags": {}}], "restrictions": [{"tags": {"a": "b c"}}]}},
     {"constraints.dataplaneProxy.requirements[0].tags", 'constraints.dataplaneProxy.restrictions[0].tags["a"]'}),
    ("meshServices", {"mode": "Sometimes"}, {"meshServices.mode"}),
    ("skipCreatingInitialPolicies", "all", {"skipCreatingInitialPolicies"}),
    ("skipCreatingInitialPolicies", ["ok", 3], {"skipCreatingInitialPolicies[1]"}),
])
def test_section_rejected(fields, section, bad, paths):
    assert fields(mesh(**{section: bad})) == paths


def test_zone_egress_with_mtls_enabled(violations):
    doc = mesh(routing={"zoneEgress": True},
               mtls={"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]})
    assert violations(doc) == []
