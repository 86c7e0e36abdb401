"""Errors in Kuma's current shape (Kong AIP-193) with the deprecated fields kept,
from a real global: a validation error, a missing route, an anonymous write."""
from __future__ import annotations

import pytest

from mzsim.launcher import Global, http

pytestmark = pytest.mark.multiprocess
AIP_193 = {"type", "status", "title", "detail", "instance", "invalid_parameters"}


def test_every_error_has_both_shapes(cluster):
    g = cluster.add(Global(cluster.dir, env={"MZSIM_API_AUTHN_LOCALHOST_IS_ADMIN": "false"}))
    admin = g.admin_token()
    status, body = http("PUT", g.api + "/meshes/m1", {"type": "Mesh", "name": "m1",
                                                      "mtls": {"enabledBackend": "nope"}}, token=admin)
    assert status == 400 and AIP_193 | {"details", "causes"} <= body.keys(), body
    assert body["status"] == 400 and body["type"] == "/std-errors" and body["detail"] == body["details"]
    fields = [p["field"] for p in body["invalid_parameters"]]
    assert "mtls.enabledBackend" in fields
    assert [(p["field"], p["reason"]) for p in body["invalid_parameters"]] == \
        [(c["field"], c["message"]) for c in body["causes"]]

    status, other = http("PUT", g.api + "/meshes/m1", {"type": "Mesh", "name": "m1",
                                                       "mtls": {"enabledBackend": "nope"}}, token=admin)
    assert other["instance"] and other["instance"] != body["instance"]  # one id per occurrence

    for method, path, token, code in (("GET", "/no-such-route", "", 404), ("PUT", "/meshes/m2", "", 401),
                                      ("GET", "/meshes/missing/_overview", "", 404)):
        status, body = http(method, g.api + path, {"type": "Mesh", "name": "m2"} if method == "PUT" else None,
                            token=token)
        assert status == code and AIP_193 <= body.keys() and body["status"] == code, (path, body)
        assert body["invalid_parameters"] == [] and body["detail"]
