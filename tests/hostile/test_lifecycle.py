"""Mesh lifecycle as Kuma v2.14: PUT and DELETE serialized, no delete with dataplanes
attached (unless store.unsafe_delete), a deleted mesh takes what it owns."""
from __future__ import annotations

import threading

from mzsim.launcher import Global, Zone, wait_connected
from mzsim.waiting import wait_until


def builtin_mesh(name: str) -> dict:
    return {"type": "Mesh", "name": name, "mtls": {"enabledBackend": "ca-1", "backends": [
        {"name": "ca-1", "type": "builtin"}]}}


def dataplane(mesh: str, name: str) -> dict:
    return {"type": "Dataplane", "mesh": mesh, "name": name, "networking": {
        "address": "10.0.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web"}}]}}


def secret_names(g: Global, mesh: str) -> list[str]:
    status, body = g.get(f"/meshes/{mesh}/secrets")
    return sorted(s["name"] for s in body["items"]) if status == 200 else []


def test_put_and_delete_of_one_mesh_are_serialized(hostile):
    g = hostile.g
    body = builtin_mesh("race")
    for _ in range(10):
        assert g.put("/meshes/race", body)[0] in (200, 201)  # an update racing a delete: the case that lost secrets
        results: list[int] = []
        put = threading.Thread(target=lambda results=results: results.append(g.put("/meshes/race", body)[0]))
        delete = threading.Thread(target=lambda results=results: results.append(g.delete("/meshes/race")[0]))
        put.start()
        delete.start()
        put.join()
        delete.join()
        assert set(results) <= {200, 201, 404}, results
        present = g.get("/meshes/race")[0] == 200
        # Either the mesh is there with both CA secrets, or neither is.
        assert secret_names(g, "race") == (["race.ca-builtin-cert-ca-1", "race.ca-builtin-key-ca-1"]
                                           if present else []), present
    assert g.put("/meshes/race", builtin_mesh("race"))[0] in (200, 201)
    assert len(secret_names(g, "race")) == 2
    assert g.delete("/meshes/race")[0] == 200
    hostile.intact()


def test_a_mesh_with_dataplanes_cannot_be_deleted(hostile):
    g, z = hostile.g, hostile.z
    assert g.put("/meshes/dm", builtin_mesh("dm"))[0] == 201
    wait_until(lambda: "dm" in z.mesh_names(), 10, what="dm on the zone")
    assert z.put("/meshes/dm/dataplanes/web-1", dataplane("dm", "web-1"))[0] == 201
    wait_until(lambda: g.get("/meshes/dm/dataplanes")[1]["total"] == 1, 10, what="web-1 on global")
    status, body = g.delete("/meshes/dm")
    assert status == 400 and body["causes"][0]["field"] == "mesh", body
    assert "dataplanes attached" in body["causes"][0]["message"] and "unsafe_delete" in body["causes"][0]["message"]
    assert g.get("/meshes/dm")[0] == 200 and len(secret_names(g, "dm")) == 2
    assert z.delete("/meshes/dm/dataplanes/web-1")[0] == 200
    wait_until(lambda: g.get("/meshes/dm/dataplanes")[1]["total"] == 0, 10, what="web-1 gone from global")
    assert g.delete("/meshes/dm")[0] == 200
    assert secret_names(g, "dm") == []
    wait_until(lambda: "dm" not in z.mesh_names(), 10, what="dm gone from the zone")
    hostile.intact()


def test_unsafe_delete_takes_the_mesh_scoped_resources(cluster):
    g = cluster.add(Global(cluster.dir, env={"MZSIM_STORE_UNSAFE_DELETE": "true"}))
    z = cluster.add(Zone(cluster.dir, "uz", g))
    wait_connected(z)
    assert g.put("/meshes/um", builtin_mesh("um"))[0] == 201
    wait_until(lambda: "um" in z.mesh_names(), 10)
    assert z.put("/meshes/um/dataplanes/web-1", dataplane("um", "web-1"))[0] == 201
    wait_until(lambda: g.get("/meshes/um/dataplanes")[1]["total"] == 1, 10)
    assert g.delete("/meshes/um")[0] == 200
    assert g.get("/meshes/um/dataplanes")[1]["total"] == 0
    assert secret_names(g, "um") == []
    wait_until(lambda: "um" not in z.mesh_names(), 10)
