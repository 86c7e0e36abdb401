"""`mzsim get`, `inspect` and `delete` against a real global (user tokens on,
loopback not admin) and real zones, as an operator runs them."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
import yaml

from mzsim.launcher import Global, Zone, http, wait_connected
from mzsim.waiting import wait_until

pytestmark = pytest.mark.multiprocess
BUILTIN = {"type": "Mesh", "name": "m1", "mtls": {"enabledBackend": "ca-1",
                                                  "backends": [{"name": "ca-1", "type": "builtin"}]}}


def mzsim(g: Global, *args: str, token: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MZSIM_API_TOKEN")}
    if token:
        env["MZSIM_API_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "mzsim", *args, "--global-api", g.api, "--wait-global", "5s"],
                          capture_output=True, text=True, timeout=60, env=env)


def rows(out: str) -> list[list[str]]:
    """A table's lines split on runs of 3+ spaces (the column gap)."""
    import re
    return [re.split(r"\s{3,}", line.strip()) for line in out.strip().splitlines()]


@pytest.fixture
def world(cluster):
    g = cluster.add(Global(cluster.dir, env={"MZSIM_API_AUTHN_LOCALHOST_IS_ADMIN": "false"}))
    admin = g.admin_token()
    for name in ("zone-1", "zone-2"):
        status, token = http("POST", g.api + "/tokens/zone", {"zone": name}, token=admin)
        assert status == 200, token
        with open(os.path.join(cluster.dir, f"{name}.token"), "w") as f:
            f.write(token)
    tokens = os.path.join(cluster.dir, "{zone}.token")
    z1 = cluster.add(Zone(cluster.dir, "zone-1", g, token_file=tokens, extra_args=["--dataplanes", "2",
                                                                                   "--mesh", "m1"]))
    z2 = cluster.add(Zone(cluster.dir, "zone-2", g, token_file=tokens))
    wait_connected(z1)
    wait_connected(z2)
    assert http("PUT", g.api + "/meshes/m1", BUILTIN, token=admin)[0] == 201
    assert http("PUT", g.api + "/meshes/m1/secrets/app-password", {
        "type": "Secret", "mesh": "m1", "name": "app-password",
        "data": base64.b64encode(b"hunter2-value").decode()}, token=admin)[0] == 201
    return g, admin, z1, z2


def test_inspect_zones_shows_an_offline_zone_with_its_disconnect_reason(world):
    g, admin, z1, z2 = world
    z2.proc.kill()  # no goodbye: global's liveness timeout closes the session
    wait_until(lambda: not g.zone_status("zone-2")["active"], 20, what="zone-2 offline on global")
    run = mzsim(g, "inspect", "zones")
    assert run.returncode == 0, run.stderr
    header, *lines = rows(run.stdout)
    assert header[:6] == ["NAME", "STATUS", "LAST CONNECTED AGO", "LAST UPDATED AGO", "TOTAL UPDATES",
                          "TOTAL ERRORS"] and "NACK REASON" in header and "DISCONNECT REASON" in header
    by_name = {line[0]: dict(zip(header, line, strict=False)) for line in lines}
    assert by_name["zone-1"]["STATUS"] == "Online" and by_name["zone-1"]["DISCONNECT REASON"] == "-"
    assert by_name["zone-2"]["STATUS"] == "Offline"
    reason = g.zone_status("zone-2")["disconnectReason"]
    assert reason and by_name["zone-2"]["DISCONNECT REASON"] == reason
    assert int(by_name["zone-1"]["TOTAL UPDATES"]) >= 1 and by_name["zone-1"]["TOTAL ERRORS"] == "0"
    as_yaml = yaml.safe_load(mzsim(g, "inspect", "zones", "-o", "yaml").stdout)
    assert [z["name"] for z in as_yaml] == ["zone-1", "zone-2"] and as_yaml[0]["type"] == "ZoneOverview"


def test_get_lists_and_secrets_are_names_only_for_admins(world):
    g, admin, _, _ = world
    run = mzsim(g, "get", "meshes")
    assert run.returncode == 0 and rows(run.stdout)[1][:2] == ["m1", "builtin/ca-1"], run
    zones = json.loads(mzsim(g, "get", "zones", "-o", "json").stdout)
    assert [(z["name"], z["online"]) for z in zones] == [("zone-1", True), ("zone-2", True)]
    dps = wait_until(lambda: (r := mzsim(g, "get", "dataplanes", "--mesh", "m1", "-o", "json")).returncode == 0
                     and len(json.loads(r.stdout)) == 2 and json.loads(r.stdout), 20)
    assert {d["zone"] for d in dps} == {"zone-1"}

    anonymous = mzsim(g, "get", "secrets")
    assert anonymous.returncode == 1 and "HTTP 401" in anonymous.stderr
    user = http("POST", g.api + "/tokens/user", {"name": "alice", "groups": ["team-a"]}, token=admin)[1]
    denied = mzsim(g, "get", "secrets", token=user)
    assert denied.returncode == 1 and "HTTP 403" in denied.stderr and "mesh-system:admin" in denied.stderr
    for fmt in ("table", "json", "yaml"):
        run = mzsim(g, "get", "secrets", "-o", fmt, token=admin)
        assert run.returncode == 0 and "app-password" in run.stdout, run.stderr
        assert "hunter2" not in run.stdout and base64.b64encode(b"hunter2-value").decode() not in run.stdout
        assert '"data"' not in run.stdout and "data:" not in run.stdout


def test_inspect_meshes_and_delete(world):
    g, admin, _, _ = world
    run = wait_until(lambda: (r := mzsim(g, "inspect", "meshes")).returncode == 0 and "2/2 valid" in r.stdout and r,
                     20, what="zone-1's certificates in inspect meshes")
    header, line = rows(run.stdout)
    row = dict(zip(header, line, strict=True))
    assert row["MESH"] == "m1" and row["ZONE"] == "zone-1" and row["BACKEND"] == "ca-1 (builtin)"
    assert row["FAILING"] == "0" and row["EARLIEST EXPIRY"].startswith("in ") and row["BREAKER"] == "closed"

    assert mzsim(g, "delete", "secret", "app-password").returncode == 2  # which mesh?
    assert mzsim(g, "delete", "secret", "app-password", "--mesh", "m1").returncode == 1  # anonymous
    run = mzsim(g, "delete", "secret", "app-password", "--mesh", "m1", token=admin)
    assert run.returncode == 0 and "deleted Secret 'app-password'" in run.stdout, run.stderr
    refused = mzsim(g, "delete", "mesh", "m1", token=admin)  # global's own words come through
    assert refused.returncode == 1 and "HTTP 400" in refused.stderr and "dataplanes attached" in refused.stderr
    assert http("PUT", g.api + "/meshes/m2", {"type": "Mesh", "name": "m2"}, token=admin)[0] == 201
    run = mzsim(g, "delete", "mesh", "m2", token=admin)
    assert run.returncode == 0, run.stderr
    assert [r[0] for r in rows(mzsim(g, "get", "meshes").stdout)] == ["NAME", "m1"]
    missing = mzsim(g, "delete", "mesh", "m2", token=admin)
    assert missing.returncode == 1 and "HTTP 404" in missing.stderr and "not found" in missing.stderr
