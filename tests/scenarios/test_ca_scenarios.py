"""The shipped CA-failure scenarios, each through the real runner against real
backends (OpenBao, `mzsim acmpca serve`, kube-api + the issuer controller),
global and zones. Marked ca_scenarios: CI runs them as their own step
(`python -m pytest -m ca_scenarios`), the default run leaves them out."""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest

from scenarios.runner import FILES_DIR

from .conftest import processes_mentioning

pytestmark = [pytest.mark.multiprocess, pytest.mark.ca_scenarios]

HERE = os.path.dirname(os.path.abspath(__file__))
CA_SCENARIOS = ["vault-outage", "vault-token-expiry", "acmpca-throttling", "acmpca-outage", "certmanager-denied",
                "certmanager-controller-down", "ca-rotation-builtin-to-vault", "broken-mesh-isolation",
                "global-kill-during-apply-burst", "reconnect-storm", "partition-during-mesh-change"]


@pytest.mark.parametrize("name", CA_SCENARIOS)
def test_shipped_scenario_passes_within_60s(mzsim_scenario, tmp_path, name):
    report = tmp_path / "r.json"
    out = mzsim_scenario("run", name, "--report", str(report), timeout=150)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    sc = json.loads(report.read_text())["scenarios"][0]
    assert sc["passed"] and sc["counts"]["failed"] == 0 and sc["unstopped"] == []
    assert sc["seconds"] <= 60, f"{name} took {sc['seconds']:.1f}s (setup included), more than its 60s budget"
    assert processes_mentioning(sc["workdir"]) == []


def test_an_outage_longer_than_the_lifetime_fails_naming_the_expired_dataplane(mzsim_scenario, tmp_path):
    report = tmp_path / "r.json"
    out = mzsim_scenario("run", os.path.join(HERE, "vault-outage-too-long.yaml"), "--report", str(report),
                         timeout=150)
    assert out.returncode == 1, out.stdout[-4000:]
    sc = json.loads(report.read_text())["scenarios"][0]
    assert sc["failure"].startswith("step 4 (expect no expired certificate in mesh secure (for 12s)): "
                                    "'no expired certificate in mesh secure' became false after"), sc["failure"]
    assert "secure/dp-" in sc["failure"] and "certificate expired at 20" in sc["failure"]
    assert "could not be reached" in sc["failure"]  # and why: the last error of its renewal
    assert processes_mentioning(sc["workdir"]) == []


def test_rotation_reports_junit_html_and_json_with_the_rotation_on_the_timeline(mzsim_scenario, tmp_path):
    paths = {k: tmp_path / f"r.{k}" for k in ("json", "xml", "html")}
    out = mzsim_scenario("run", "ca-rotation-builtin-to-vault", "--seed", "11", "--report", str(paths["json"]),
                         "--junit", str(paths["xml"]), "--html", str(paths["html"]), timeout=150)
    assert out.returncode == 0, out.stdout[-4000:]
    assert "seed 11" in out.stdout
    doc = json.loads(paths["json"].read_text())["scenarios"][0]
    assert doc["seed"] == 11
    suite = ET.parse(paths["xml"]).getroot().find("testsuite")
    assert len(suite.findall("testcase")) == len(doc["steps"]) and suite.get("failures") == "0"
    page = paths["html"].read_text()
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    ET.fromstring(svg)
    assert "from builtin-1" in svg and "from vault-1" in svg  # both CAs' certificates over time
    assert "Mesh default" in svg  # the applies of the rotation


def test_repeat_reports_the_pass_rate_and_step_spread(mzsim_scenario, tmp_path):
    report = tmp_path / "r.json"
    out = mzsim_scenario("run", f"{FILES_DIR}/partition-during-mesh-change.yaml", "--repeat", "2", "--seed", "3",
                         "--report", str(report), timeout=150)
    assert out.returncode == 0, out.stdout[-4000:]
    assert "partition-during-mesh-change: 2/2 passed (100%)" in out.stdout
    rep = json.loads(report.read_text())["repeats"][0]
    assert rep["runs"] == 2 and rep["passRate"] == 1.0 and rep["seeds"] == [3, 3]
    assert all(s["min"] <= s["median"] <= s["max"] for s in rep["steps"])
