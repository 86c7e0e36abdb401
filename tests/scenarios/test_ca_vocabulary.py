"""The CA-failure vocabulary of scenario files (backends, ${NAME.FIELD}, backend
steps, new conditions) is validated up front, and the JUnit and HTML writers
produce what CI systems and browsers read. Fast: nothing is started."""
from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest

from scenarios.model import ScenarioError, load
from scenarios.proxy import FaultProxy
from scenarios.report import FAILED, PASSED, SKIPPED, ScenarioResult, StepResult, write_html, write_junit

TOPOLOGY = """
topology:
  backends:
    - {name: vault, type: vault}
    - {name: pca, type: acmpca}
    - {name: cm, type: certmanager}
  zones: [{name: zone-1}]
"""


@pytest.mark.parametrize("body, problem", [
    ("resources:\n  - {type: Secret, mesh: default, name: t, data: '${nope.token_b64}'}\nsteps: [note: x]",
     "resources[0]: ${nope.token_b64}: no backend 'nope' in topology.backends"),
    ("resources:\n  - {type: Secret, mesh: default, name: t, data: '${pca.token}'}\nsteps: [note: x]",
     "${pca.token}: a acmpca backend offers endpoint, arn"),
    ("steps:\n  - vault: melt", "steps[0] (vault): is 'melt'; a vault step is one of seal, unseal, revoke-token"),
    ("steps:\n  - acmpca: throttle\n    count: 0", "steps[0] (acmpca).count: must be a whole number >= 1"),
    ("steps:\n  - certmanager: deny\n    backend: vault", "must name a certmanager backend of topology.backends (cm)"),
    ("steps:\n  - partition: nowhere", "'nowhere' is not a link of the topology; use one of zone-1, vault, pca, cm"),
    ("steps:\n  - pause: cm-controler", "'cm-controler' is not a process of the topology"),
    ("steps:\n  - wait: breaker vault-1 in zone zone-1 is ajar", "does not match: breaker BACKEND in zone Z is"),
    ("steps:\n  - watch: no expired certificates in mesh m", "does not match: no expired certificate in mesh M"),
    ("steps:\n  - expect: peers trust in mesh m", "does not match: peers trust each other in mesh M"),
    ("steps:\n  - burst: lots", "steps[0] (burst): must be the number of meshes to apply"),
    ("steps:\n  - delay: vault\n    latency: 1s\n    jitter: soon",
     "steps[0] (delay).jitter: 'soon' is not a duration"),
])
def test_each_backend_problem_names_where_and_how_to_fix(scenario_file, body, problem):
    with pytest.raises(ScenarioError) as e:
        load(scenario_file("b", TOPOLOGY + body + "\n"))
    assert problem in str(e.value)


def test_a_backend_name_must_not_clash_and_its_type_must_be_known(scenario_file):
    path = scenario_file("c", """
        topology:
          backends:
            - {name: zone-1, type: vault}
            - {name: ok, type: etcd}
            - {name: acm, type: acmpca, token_ttl: 5s}
          zones: [{name: zone-1}]
        steps: [note: x]
    """)
    with pytest.raises(ScenarioError) as e:
        load(path)
    text = str(e.value)
    assert "topology.backends[0].name: must be a lowercase DNS label, unique among zones and backends" in text
    assert "topology.backends[1].type: is 'etcd'; use one of vault, acmpca, certmanager" in text
    assert "topology.backends[2].token_ttl: only a vault backend has a token" in text


def test_a_valid_file_keeps_the_placeholders_for_run_time(scenario_file):
    sc = load(scenario_file("v", TOPOLOGY + """
resources:
  - {type: Secret, mesh: default, name: t, data: "${vault.token_b64}"}
steps:
  - apply: {type: Mesh, name: m, mtls: {enabledBackend: a,
                                       backends: [{name: a, type: acmpca, conf: {arn: "${pca.arn}"}}]}}
  - acmpca: throttle
  - stop: cm-controller
  - watch: peers trust each other in mesh m
"""))
    assert sc.raw_resources[0]["data"] == "${vault.token_b64}"
    assert sc.steps[0].raw["mtls"]["backends"][0]["conf"]["arn"] == "${pca.arn}"
    assert sc.steps[1].options == {"backend": "pca", "count": 1000, "target": "ACMPrivateCA.IssueCertificate",
                                   "status": None}
    assert "cm-controller" in sc.processes


def test_delay_jitter_is_reproducible_from_the_seed():
    def draws(seed: int) -> list[float]:
        p = FaultProxy("z", "127.0.0.1", 1, 2)
        p.delay(0.3, 0.1, random.Random(seed))
        return [p.chunk_delay() for _ in range(5)]
    assert draws(7) == draws(7) != draws(8)
    assert all(0.2 <= d <= 0.4 for d in draws(7))


def _result() -> ScenarioResult:
    r = ScenarioResult("demo", "demo.yaml", "a demo", seed=42, seconds=9.0)
    r.steps = [StepResult(1, "wait", "wait mesh m certified by vault-1", PASSED, 2.0, "all 2 hold one", 0.0),
               StepResult(2, "expect", "expect no expired certificate in mesh m", FAILED, 1.0,
                          "1 expired: zone-1 m/dp-0 certificate expired at 2026-01-01T00:00:00Z", 2.0),
               StepResult(3, "heal", "heal vault", SKIPPED)]
    r.events = [(1.0, "fault", "partition vault (reset)"), (2.5, "error", "step 2 failed")]
    r.samples = [{"t": float(t), "certified": {"m": 2 - (t > 2)}, "dataplanes": {"m": 2},
                  "issued_by": {"m/vault-1": 2 - (t > 2)}, "breakers": {"zone-1 m/vault-1": "open" if t > 2
                                                                          else "closed"}, "zones_up": 1}
                 for t in range(5)]
    return r


def test_junit_has_one_testcase_per_step_with_the_failure_and_the_seed(tmp_path):
    path = tmp_path / "j.xml"
    write_junit(str(path), [_result()])
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert root.tag == "testsuites" and suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["01 wait mesh m certified by vault-1",
                                              "02 expect no expired certificate in mesh m", "03 heal vault"]
    assert "zone-1 m/dp-0 certificate expired" in cases[1].find("failure").get("message")
    assert cases[2].find("skipped") is not None
    assert suite.find("properties/property").attrib == {"name": "seed", "value": "42"}


def test_html_is_one_page_with_an_svg_timeline_and_the_step_table(tmp_path):
    path = tmp_path / "r.html"
    write_html(str(path), [_result()])
    text = path.read_text()
    assert "<script" not in text and "http" not in text.split("<svg", 1)[0].replace("http://www.w3.org", "")
    svg = text[text.index("<svg"):text.index("</svg>") + 6]
    ET.fromstring(svg)  # well-formed
    for lane in ("steps", "faults", "heals", "applies", "ACKs", "errors", "certified in m (of 2)", "from vault-1",
                 "breaker zone-1 m/vault-1", "partition vault (reset)"):
        assert lane in svg, lane
    assert "#ffa8a8" in svg  # the open breaker
    assert "zone-1 m/dp-0 certificate expired" in text and "seed 42" in text
