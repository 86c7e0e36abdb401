"""The runner's own failure paths: a scenario that fails, and invalid files."""
from __future__ import annotations

import json

import pytest

from scenarios.model import ScenarioError, load

from .conftest import processes_mentioning

FAILING = """
    name: designed-to-fail
    description: waits for a mesh nobody applies
    topology:
      zones:
        - {name: zone-1}
    resources:
      - {type: Mesh, name: real}
    steps:
      - wait: zone zone-1 in_sync
        timeout: 20s
      - wait: mesh never-applied on zone zone-1
        timeout: 1s
      - expect: mesh real on zone zone-1
"""


@pytest.mark.multiprocess
def test_a_failing_scenario_exits_1_names_the_step_and_stops_everything(mzsim_scenario, scenario_file, tmp_path):
    report = tmp_path / "r.json"
    out = mzsim_scenario("run", scenario_file("fail", FAILING), "--report", str(report))
    assert out.returncode == 1, out.stdout + out.stderr
    assert ("FAILED after 1.0s: 'mesh never-applied on zone zone-1' still false after 1s; "
            "last seen: zone-1: no mesh never-applied") in out.stdout
    assert "FAIL  designed-to-fail" in out.stdout
    assert "--- last lines of zone-1" in out.stdout  # the logs help find out why
    sc = json.loads(report.read_text())["scenarios"][0]
    assert sc["passed"] is False and sc["counts"] == {"passed": 1, "failed": 1, "skipped": 1}
    assert sc["failure"].startswith("step 2 (wait mesh never-applied on zone zone-1")
    assert [s["status"] for s in sc["steps"]] == ["passed", "failed", "skipped"]
    assert processes_mentioning(sc["workdir"]) == []


def test_invalid_files_are_refused_before_anything_starts(mzsim_scenario, scenario_file):
    bad = scenario_file("bad", """
        topology:
          zones:
            - {name: zone-1, dataplanes: many}
        steps:
          - wait: zone zone-9 active
          - wait: zone zone-1 active
            timeout: soon
          - kill: zone-2
          - partition: zone-1
            mode: gently
          - {apply: {type: Mesh, name: m}, field: mtls}
          - expect: dataplanes certified >= lots
          - jump: zone-1
    """)
    good = scenario_file("good", FAILING)
    out = mzsim_scenario("run", good, bad, timeout=30)
    assert out.returncode == 2
    text = out.stdout
    assert "nothing was started" in text
    for expected in [
        "topology.zones[0].dataplanes: must be a whole number >= 0, got 'many'",
        "steps[0] (wait): 'zone zone-9 active': zone 'zone-9' is not in the topology (zones: zone-1)",
        "steps[1] (wait).timeout: 'soon' is not a duration",
        "steps[2] (kill): 'zone-2' is not a process of the topology; use one of global, zone-1",
        "steps[3] (partition).mode: is 'gently'; use drop (silent, the default) or reset",
        "steps[4] (apply): field and message describe a rejection; add outcome: rejected",
        "steps[5] (expect): 'dataplanes certified >= lots': 'lots' is not a whole number",
        "steps[6]: needs exactly one step kind",
    ]:
        assert expected in text, f"missing {expected!r} in:\n{text}"
    assert "[setup]" not in text  # the valid file did not run either


@pytest.mark.parametrize("steps, problem", [
    ("- wait: zone zone-1 actve", "'zone zone-1 actve' does not match: zone Z up|down|active"),
    ("- wait: mesh m1 near global", "'mesh m1 near global' does not match: mesh M on global"),
    ("- expect: log zone-1 contains 'x'\n  within: 1s\n  for: 1s", "use either within"),
    ("- wait: insight zones.online == 1\n  timeout: 2h", "longer than the 600s limit"),
    ("- expect: \"log global contains 'x\"", "No closing quotation (check the quotes)"),
    ("- register: {zone: zone-1, name: web}", "steps[0] (register).service: is required"),
    ("- delete: mesh", "must be 'mesh NAME', 'secret MESH/NAME' or 'global-secret NAME'"),
])
def test_each_problem_names_the_step_and_the_field(scenario_file, steps, problem):
    path = scenario_file("p", "topology:\n  zones: [{name: zone-1}]\nsteps:\n" + "\n".join(
        "  " + line for line in steps.splitlines()) + "\n")
    with pytest.raises(ScenarioError) as e:
        load(path)
    assert problem in str(e.value)


def test_a_yaml_syntax_error_says_where(scenario_file):
    path = scenario_file("y", "topology:\n  zones: [{name: zone-1}\nsteps: []\n")
    with pytest.raises(ScenarioError) as e:
        load(path)
    assert "cannot parse YAML/JSON at line" in str(e.value)
