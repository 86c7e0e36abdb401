"""Every process's /metrics: prometheus-client text that promtool accepts, with
process_* series, global's per-zone series and the zones' certificate series,
none of which outlives what it measures. The shipped alerting rules load."""
from __future__ import annotations

import os
import subprocess

import pytest

from mzsim.launcher import Global, Zone, http, wait_connected
from mzsim.waiting import wait_until
from tests.observability.promtool import PROMTOOL, check_metrics, needs_promtool, samples

pytestmark = pytest.mark.multiprocess
RULES = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "prometheus-rules.yaml")
BUILTIN = {"type": "Mesh", "name": "m1", "mtls": {"enabledBackend": "ca-1",
                                                  "backends": [{"name": "ca-1", "type": "builtin"}]}}


def metrics(url: str) -> str:
    status, body = http("GET", url + "/metrics")
    assert status == 200, body
    return body


@needs_promtool
def test_the_shipped_alerting_rules_pass_promtool():
    assert PROMTOOL is not None
    run = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 rules found" in run.stdout


@needs_promtool
def test_global_and_zone_metrics_pass_promtool_and_follow_the_zone(cluster):
    g = cluster.add(Global(cluster.dir))
    z = cluster.add(Zone(cluster.dir, "zone-1", g, extra_args=["--dataplanes", "2", "--mesh", "m1"]))
    wait_connected(z)
    assert g.put("/meshes/m1", BUILTIN)[0] == 201
    zone_text = wait_until(lambda: (t := metrics(z.api)) and
                           samples(t, "mzsim_cert_earliest_expiry_timestamp_seconds") and t, 20,
                           what="zone-1 reports its earliest certificate expiry")
    global_text = wait_until(lambda: (t := metrics(g.api)) and
                             samples(t, "mzsim_zone_in_sync") == {'{zone="zone-1"}': 1.0} and t, 20,
                             what="global reports zone-1 in sync")
    for text in (global_text, zone_text):
        run = check_metrics(text)
        assert run.returncode == 0, run.stdout + run.stderr
        assert samples(text, "process_cpu_seconds_total") and samples(text, "process_resident_memory_bytes")
    assert samples(global_text, "mzsim_zone_online") == {'{zone="zone-1"}': 1.0}
    assert samples(global_text, "mzsim_zone_config_lag") == {'{zone="zone-1"}': 0.0}
    assert samples(global_text, "mzsim_zone_nacks_total") == {'{zone="zone-1"}': 0.0}
    assert samples(zone_text, "mzsim_proxies_failing") == {'{backend="ca-1",mesh="m1"}': 0.0}
    assert samples(zone_text, "mzsim_proxies_certified") == {'{backend="ca-1",mesh="m1"}': 2.0}
    assert samples(zone_text, "mzsim_breaker_open") == {'{backend="ca-1",backend_type="builtin",mesh="m1"}': 0.0}
    lifetime = samples(zone_text, "mzsim_cert_earliest_expiry_lifetime_seconds")['{backend="ca-1",mesh="m1"}']
    assert 86000 < lifetime < 87000  # the default 24 h, plus the backdating of notBefore

    z.proc.stop()
    wait_until(lambda: samples(metrics(g.api), "mzsim_zone_online") == {'{zone="zone-1"}': 0.0}, 20,
               what="global reports zone-1 offline")
    # A mesh without mTLS has no backend: its certificate series go with it.
    z2 = cluster.add(Zone(cluster.dir, "zone-2", g, extra_args=["--dataplanes", "1", "--mesh", "m1"]))
    wait_connected(z2)
    wait_until(lambda: samples(metrics(z2.api), "mzsim_proxies_certified"), 20, what="zone-2 issues")
    assert g.put("/meshes/m1", {"type": "Mesh", "name": "m1"})[0] == 200
    wait_until(lambda: not samples(t := metrics(z2.api), "mzsim_proxies_certified")
               and not samples(t, "mzsim_breaker_open"), 20, what="zone-2's m1 series removed")


@needs_promtool
def test_zones_sharing_a_process_have_one_registry_each(cluster):
    g = cluster.add(Global(cluster.dir))
    for name in ("multi-1", "multi-2"):
        g.token_file(name)
    z = cluster.add(Zone(cluster.dir, "multi-1", g, token_file=os.path.join(cluster.dir, "{zone}.token"),
                         extra_args=["--count", "2", "--name-prefix", "multi-", "--dataplanes", "2",
                                     "--mesh", "m1"]))
    assert g.put("/meshes/m1", BUILTIN)[0] == 201
    second = f"http://127.0.0.1:{z.api_port + 1}"
    for url in (z.api, second):
        text = wait_until(lambda url=url: (t := metrics(url)) and
                          samples(t, "mzsim_proxies_certified").get('{backend="ca-1",mesh="m1"}') == 2.0 and t,
                          30, what=f"both certificates of the zone at {url}")
        # Two dataplanes each: a shared registry would count four.
        assert samples(text, "mzsim_issuance_total") == {
            '{backend="ca-1",backend_type="builtin",mesh="m1",outcome="ok"}': 2.0}
        assert samples(text, "process_cpu_seconds_total")
        assert check_metrics(text).returncode == 0
