"""The OpenAPI 3 contract: served at GET /openapi.yaml, kept in docs/, and fuzzed with
schemathesis against a real global process: no 5xx, and every response conforms."""
from __future__ import annotations

import os
import shutil

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from mzsim.launcher import Global, Zone, new_workdir, wait_connected

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
GLOBAL_SPEC = os.path.join(ROOT, "docs", "openapi-global.yaml")
ZONE_SPEC = os.path.join(ROOT, "docs", "openapi-zone.yaml")
MAX_EXAMPLES = 40  # per operation: the run stays around a minute on two shared cores
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# The event stream never ends by design: its access rule is tested in tests/observability.
schema = schemathesis.openapi.from_path(GLOBAL_SPEC).exclude(path="/dashboard/stream")
zone_schema = schemathesis.openapi.from_path(ZONE_SPEC)
generated = {"cases": 0, "zone cases": 0}


@pytest.fixture(scope="module")
def fuzz_global():
    d = new_workdir("mzsim-fuzz-")
    g = Global(d, env={"MZSIM_MTLS_SKIP_TEST_ISSUE_TYPES": "vault,acmpca,certmanager"}).start()
    assert g.put("/meshes/keep", {"type": "Mesh", "name": "keep"})[0] == 201
    yield g
    log = g.proc.log()
    g.proc.stop()
    print(f"\nschemathesis: {generated['cases']} generated cases against global, "
          f"{generated['zone cases']} against a zone")
    assert "Traceback" not in log, log[-4000:]
    shutil.rmtree(d, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_global_api_contract(case, fuzz_global):
    generated["cases"] += 1
    response = case.call(base_url=fuzz_global.api, timeout=10)
    case.validate_response(response, checks=CHECKS)


@zone_schema.parametrize()
@settings(max_examples=MAX_EXAMPLES // 2, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_zone_api_contract(case, fuzz_zone):
    generated["zone cases"] += 1
    response = case.call(base_url=fuzz_zone.api, timeout=10)
    case.validate_response(response, checks=CHECKS)


@pytest.fixture(scope="module")
def fuzz_zone(fuzz_global):
    z = Zone(fuzz_global.workdir, "fuzz-zone", fuzz_global).start()
    wait_connected(z)
    yield z
    log = z.proc.log()
    z.proc.stop()
    assert "Traceback" not in log, log[-4000:]


def test_the_spec_is_served_and_kept_in_docs(hostile):
    for side, who in ((hostile.g, "global"), (hostile.z, "zone")):
        status, text = side.get("/openapi.yaml")
        assert status == 200
        assert text == open(os.path.join(ROOT, "docs", f"openapi-{who}.yaml")).read()
        assert text == open(os.path.join(ROOT, f"{who}_cp", "openapi.yaml")).read()
        assert yaml.safe_load(text)["openapi"].startswith("3.")


def test_every_route_is_in_the_spec():
    from global_cp.api import GlobalApi
    from zone_cp.api import ZoneApi

    for api_cls, who in ((GlobalApi, "global"), (ZoneApi, "zone")):
        paths = yaml.safe_load(open(os.path.join(ROOT, "docs", f"openapi-{who}.yaml")))["paths"]
        api = api_cls.__new__(api_cls)
        api.metrics = None  # routes() only reads bound methods
        for route in api.routes():
            assert route.path in paths and route.method.lower() in paths[route.path], (who, route.method, route.path)
