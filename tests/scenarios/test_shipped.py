"""Shipped scenarios through the real runner (`mzsim scenario run`), each
against real global and zone processes."""
from __future__ import annotations

import json

import pytest
import yaml

from scenarios.runner import FILES_DIR, load_all, shipped

from .conftest import processes_mentioning

pytestmark = pytest.mark.multiprocess


def step_count(name: str) -> int:
    with open(f"{FILES_DIR}/{name}.yaml") as f:
        return len(yaml.safe_load(f)["steps"])


def test_every_shipped_scenario_is_valid_and_listed(mzsim_scenario):
    scenarios, errors = load_all(shipped())
    assert errors == []
    names = {sc.name for sc in scenarios}
    assert {"global-restart", "zone-partition", "zone-restart-offline", "bad-token",
            "certmanager-universal-nack", "cert-rotation"} <= names
    out = mzsim_scenario("list", timeout=30)
    assert out.returncode == 0, out.stderr
    assert all(n in out.stdout for n in names)


def test_zone_partition_and_bad_token_pass_and_the_report_says_what_happened(mzsim_scenario, tmp_path):
    report = tmp_path / "report.json"
    out = mzsim_scenario("run", "zone-partition", f"{FILES_DIR}/bad-token.yaml", "--report", str(report))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2/2 scenarios passed" in out.stdout
    doc = json.loads(report.read_text())
    assert doc["passed"] is True
    by_name = {s["name"]: s for s in doc["scenarios"]}
    for name in ("zone-partition", "bad-token"):
        sc = by_name[name]
        assert sc["counts"] == {"passed": step_count(name), "failed": 0, "skipped": 0}, sc
        assert sc["failure"] == "" and sc["unstopped"] == []
    steps = by_name["zone-partition"]["steps"]
    offline = next(s for s in steps if s["title"].startswith("expect zone zone-1 offline"))
    assert offline["seconds"] < 3.5, offline  # the 2s liveness timeout, a heartbeat and a check
    assert "active=False" in offline["detail"]
    healed = next(s for s in steps if s["kind"] == "heal")
    assert "partition lifted after" in healed["detail"]
    refused = next(s for s in by_name["bad-token"]["steps"] if s["kind"] == "wait")
    assert "is for zone 'zone-2'" in refused["detail"]
    assert processes_mentioning(by_name["zone-partition"]["workdir"]) == []


def test_global_restart_and_link_faults_pass(mzsim_scenario):
    out = mzsim_scenario("run", "global-restart", "link-faults")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS  global-restart" in out.stdout and "PASS  link-faults" in out.stdout
    assert "FAILED" not in out.stdout
