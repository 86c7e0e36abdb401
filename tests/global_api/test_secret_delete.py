"""Deleting a secret that a mesh's backend reads is refused with a 400 naming
the mesh and backend; the builtin CA's own secrets count as read."""
from __future__ import annotations

import base64

import pytest
from aiohttp.test_utils import TestClient, TestServer

from global_cp.app import GlobalCP
from global_cp.config import GlobalConfig
from tests.ca.helpers import ca_pair


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
async def api(tmp_path):
    cp = GlobalCP(GlobalConfig(data_dir=str(tmp_path)))
    client = TestClient(TestServer(cp.build_app()))
    await client.start_server()
    yield client
    await client.close()
    await cp.stop()


def builtin_mesh(name: str, backend: str = "ca-1") -> dict:
    return {"type": "Mesh", "name": name, "mtls": {"enabledBackend": backend, "backends": [
        {"name": backend, "type": "builtin", "conf": {"caCert": {"keyType": "ec"}}}]}}


async def put(api: TestClient, path: str, body: dict) -> int:
    resp = await api.put(path, json=body)
    assert resp.status < 500, await resp.text()
    return resp.status


async def test_the_builtin_ca_secrets_of_a_mesh_cannot_be_deleted(api):
    assert await put(api, "/meshes/default", builtin_mesh("default")) == 201
    for name in ("default.ca-builtin-cert-ca-1", "default.ca-builtin-key-ca-1"):
        resp = await api.delete(f"/meshes/default/secrets/{name}")
        body = await resp.json()
        assert resp.status == 400, body
        cause = body["causes"][0]
        assert cause["field"] == "name"
        assert "mesh default backend 'ca-1'" in cause["message"] and name in cause["message"]
        assert (await api.get(f"/meshes/default/secrets/{name}")).status == 200  # still there


async def test_a_secret_a_disabled_backend_reads_cannot_be_deleted_but_others_can(api):
    assert await put(api, "/meshes/default", {"type": "Mesh", "name": "default"}) == 201
    cert, key = ca_pair()
    for name, text in (("ca-cert", cert), ("ca-key", key), ("unused", "x")):
        assert await put(api, f"/meshes/default/secrets/{name}",
                         {"type": "Secret", "name": name, "mesh": "default", "data": b64(text)}) == 201
    # mTLS off (no enabledBackend): the provided backend still names its secrets.
    mesh = {"type": "Mesh", "name": "default", "mtls": {"backends": [
        {"name": "mine", "type": "provided", "conf": {"cert": {"secret": "ca-cert"}, "key": {"secret": "ca-key"}}}]}}
    assert await put(api, "/meshes/default", mesh) == 200
    resp = await api.delete("/meshes/default/secrets/ca-key")
    assert resp.status == 400 and "mesh default backend 'mine'" in (await resp.json())["causes"][0]["message"]
    assert (await api.delete("/meshes/default/secrets/unused")).status == 200
    assert (await api.get("/meshes/default/secrets/unused")).status == 404


async def test_a_secret_of_the_same_name_in_another_mesh_is_not_in_use(api):
    assert await put(api, "/meshes/default", builtin_mesh("default")) == 201
    assert await put(api, "/meshes/other", {"type": "Mesh", "name": "other"}) == 201
    name = "default.ca-builtin-cert-ca-1"
    assert await put(api, f"/meshes/other/secrets/{name}",
                     {"type": "Secret", "name": name, "mesh": "other", "data": b64("x")}) == 201
    assert (await api.delete(f"/meshes/other/secrets/{name}")).status == 200
