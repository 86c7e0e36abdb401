"""Global and zones as real processes, synced over real websockets."""
from __future__ import annotations

import time

from common.timefmt import parse_time
from mzsim.launcher import Global, Zone, wait_connected
from mzsim.waiting import wait_until

PLAIN_MESH = {"type": "Mesh", "name": "m1"}


def apply_mesh(g: Global, name: str, body: dict | None = None) -> None:
    status, resp = g.put(f"/meshes/{name}", body or {"type": "Mesh", "name": name})
    assert status in (200, 201), resp


def test_a_mesh_reaches_every_zone_and_changes_and_deletion_propagate(cluster):
    g = cluster.add(Global(cluster.dir))
    zones = [cluster.add(Zone(cluster.dir, f"zone-{i}", g)) for i in (1, 2, 3)]
    for z in zones:
        wait_connected(z)
    apply_mesh(g, "m1")
    for z in zones:
        wait_until(lambda z=z: z.mesh_names() == ["m1"], 10, what=f"m1 on {z.name}")
    logging = {"backends": [{"name": "file-1", "type": "file", "conf": {"path": "/tmp/access.log"}}]}
    apply_mesh(g, "m1", {"type": "Mesh", "name": "m1", "logging": logging})
    for z in zones:
        wait_until(lambda z=z: z.get("/meshes/m1")[1].get("logging") == logging, 10)
    assert g.delete("/meshes/m1")[0] == 200
    for z in zones:
        wait_until(lambda z=z: z.mesh_names() == [], 10, what=f"m1 gone from {z.name}")
    statuses = wait_until(lambda: [s for s in g.get("/status/zones")[1] if s["inSync"]] and
                          len([s for s in g.get("/status/zones")[1] if s["inSync"]]) == 3 and
                          g.get("/status/zones")[1], 10)
    assert {s["name"] for s in statuses} == {"zone-1", "zone-2", "zone-3"}
    assert all(s["active"] and s["nackCount"] == 0 for s in statuses)
    for s in statuses:  # every time in one format: RFC 3339 UTC
        for key in ("connectTime", "lastHeartbeat", "ackedAt"):
            assert parse_time(s[key]).tzinfo is not None, (key, s[key])


def test_a_killed_zone_is_marked_offline_within_the_liveness_timeout(cluster):
    g = cluster.add(Global(cluster.dir))
    z = cluster.add(Zone(cluster.dir, "zone-1", g))
    wait_connected(z)
    wait_until(lambda: (g.zone_status("zone-1") or {}).get("active"), 10)
    z.proc.kill()  # SIGKILL: no close frame, the socket just goes quiet or resets
    start = time.monotonic()
    wait_until(lambda: g.zone_status("zone-1")["active"] is False, 10, what="zone-1 offline")
    assert time.monotonic() - start < 2.0 + 3.0  # liveness timeout (2s) plus polling slack


def test_global_kill_9_and_restart_loses_nothing_and_zones_never_see_a_transient_delete(cluster):
    g = cluster.add(Global(cluster.dir))
    zones = [cluster.add(Zone(cluster.dir, f"zone-{i}", g)) for i in (1, 2)]
    for z in zones:
        wait_connected(z)
    for i in range(5):
        apply_mesh(g, f"m{i}")  # each apply returned success: it must survive kill -9
    g.proc.kill()
    g.start()  # same ports and data directory
    assert sorted(m["name"] for m in g.get("/meshes")[1]["items"]) == [f"m{i}" for i in range(5)]
    apply_mesh(g, "after-restart")
    expected = sorted([f"m{i}" for i in range(5)] + ["after-restart"])
    for z in zones:
        wait_until(lambda z=z: z.mesh_names() == expected, 15, what=f"{z.name} converged")
        assert z.status()["kds"]["removedByGlobal"].get("Mesh", 0) == 0
        assert z.status()["kds"]["connects"] >= 2


def test_a_zone_restarted_while_global_is_down_still_serves_its_meshes(cluster):
    g = cluster.add(Global(cluster.dir))
    z = cluster.add(Zone(cluster.dir, "zone-1", g))
    wait_connected(z)
    apply_mesh(g, "m1")
    wait_until(lambda z=z: z.mesh_names() == ["m1"], 10)
    g.proc.kill()
    z.proc.stop()
    z.start()
    assert z.mesh_names() == ["m1"]
    assert z.status()["connected"] is False


def test_a_wrong_token_is_refused_with_a_reason_on_both_sides(cluster):
    g = cluster.add(Global(cluster.dir))
    other = Global(cluster.dir + "/other")  # a different signing key
    import os

    os.makedirs(other.workdir, exist_ok=True)
    cluster.add(other)
    forged = other.token_file("zone-1")
    z = cluster.add(Zone(cluster.dir, "zone-1", g, token_file=forged))
    wait_until(lambda: "signature is invalid" in z.status()["lastError"], 10)
    assert "401" in z.status()["lastError"]
    wait_until(lambda: "refused zone 'zone-1'" in g.proc.log(), 5)
    assert g.zone_status("zone-1") is None  # never registered


def test_a_token_for_another_zone_is_refused(cluster):
    g = cluster.add(Global(cluster.dir))
    z = cluster.add(Zone(cluster.dir, "zone-1", g, token_file=g.token_file("zone-2")))
    wait_until(lambda: "is for zone 'zone-2'" in z.status()["lastError"], 10)


def test_a_nack_shows_in_the_counters(cluster):
    g = cluster.add(Global(cluster.dir, extra_args=[], env={"MZSIM_MTLS_SKIP_TEST_ISSUE_TYPES": "certmanager"}))
    z = cluster.add(Zone(cluster.dir, "zone-1", g))
    wait_connected(z)
    status, body = g.put("/meshes/cm", {"type": "Mesh", "name": "cm", "mtls": {
        "enabledBackend": "cm-1", "backends": [{"name": "cm-1", "type": "certmanager",
                                                 "conf": {"issuerRef": {"name": "my-ca-issuer"}}}]}})
    assert status == 201, body
    assert any("universal" in w for w in body["warnings"])
    st = wait_until(lambda: (g.zone_status("zone-1") or {}).get("nackCount") and g.zone_status("zone-1"), 10)
    assert "certmanager" in st["lastNackError"]
    overview = g.get("/zones/zone-1/_overview")[1]
    stat = overview["zoneInsight"]["subscriptions"][-1]["status"]["stat"]["Mesh"]
    assert stat["responsesRejected"] == 1
    assert z.mesh_names() == []
    # The zone refuses the mesh: not in sync, and it stays so while later changes are ACKed.
    assert st["inSync"] is False and [r.split(":")[0] for r in st["rejected"]] == ["Mesh cm"]
    assert g.put("/meshes/plain", {"type": "Mesh", "name": "plain"})[0] == 201
    st = wait_until(lambda: "plain" in z.mesh_names() and g.zone_status("zone-1"), 10)
    st = wait_until(lambda: (s := g.zone_status("zone-1"))["ackedVersion"] == s["globalVersion"] and s, 10)
    assert st["inSync"] is False and st["rejected"] and g.get("/global-insight")[1]["zones"]["inSync"] == 0
    # Once the refused mesh is gone the zone is in sync again.
    assert g.delete("/meshes/cm")[0] == 200
    wait_until(lambda: g.zone_status("zone-1")["inSync"] and not g.zone_status("zone-1")["rejected"], 10,
               what="zone-1 in sync once the certmanager mesh is deleted")
