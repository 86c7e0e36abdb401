"""Bad input over real sockets: the process stays up, says why, and loses nothing."""
from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mzsim.launcher import Global, http


async def _session(g: Global, zone: str, token: str):
    return await connect(g.kds + "/kds", additional_headers={"X-Mzsim-Zone": zone,
                                                             "Authorization": f"Bearer {token}"},
                         max_size=None, ssl=g.kds_ssl())


def hello(zone: str) -> str:
    return json.dumps({"type": "hello", "zone": zone, "zone_instance": "raw", "applied_version": 0,
                       "store_id": "", "max_frame_bytes": 1 << 20})


async def test_malformed_unknown_and_oversized_frames(cluster):
    g = cluster.add(Global(cluster.dir, env={"MZSIM_KDS_MAX_FRAME_BYTES": "65536",
                                             "MZSIM_KDS_LIVENESS_TIMEOUT": "5s"}))
    assert g.put("/meshes/keep", {"type": "Mesh", "name": "keep"})[0] == 201
    token = g.token("raw-zone")
    ws = await _session(g, "raw-zone", token)
    await ws.send(hello("raw-zone"))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome" and welcome["max_frame_bytes"] == 65536
    snapshot = json.loads(await ws.recv())
    assert [u["name"] for u in snapshot["upserts"]] == ["keep"]
    # A frame that cannot be decoded: an error frame saying why, then a 4400 close with the reason,
    # which global keeps as the zone's disconnectReason.
    for bad, expect in [("{not json", "not JSON"), ('{"type": "bogus"}', "unknown frame type")]:
        await ws.send(bad)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if msg["type"] == "error":
                    assert expect in msg["message"]
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400 and expect in closed.value.rcvd.reason
        assert expect in g.zone_status("raw-zone")["disconnectReason"]
        ws = await _session(g, "raw-zone", token)
        await ws.send(hello("raw-zone"))
        assert json.loads(await ws.recv())["type"] == "welcome"
    # An invalid dataplane from the zone is NACKed; the session stays open.
    await ws.send(json.dumps({"type": "resources", "nonce": "u1", "part": 1, "parts": 1, "full": False,
                              "upserts": [{"kind": "Dataplane", "mesh": "keep", "name": "bad",
                                           "spec": {"networking": {}}}], "removals": []}))
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if msg["type"] in ("ack", "nack"):
            break
    assert msg["type"] == "nack" and "networking" in msg["error"]
    # A frame over the limit closes this connection with 1009 (message too big) ...
    await ws.send(json.dumps({"type": "heartbeat", "pad": "x" * 200_000}))
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    except ConnectionClosed as e:
        assert e.rcvd is not None and e.rcvd.code == 1009
    # ... and global is still up, with nothing lost.
    assert g.proc.alive()
    assert [m["name"] for m in g.get("/meshes")[1]["items"]] == ["keep"]
    ws2 = await _session(g, "raw-zone", token)
    await ws2.send(hello("raw-zone"))
    assert json.loads(await ws2.recv())["type"] == "welcome"
    await ws2.close()


def test_oversized_http_body_gets_413_and_nothing_changes(cluster):
    g = cluster.add(Global(cluster.dir, env={"MZSIM_API_MAX_BODY_BYTES": "10000"}))
    status, body = http("PUT", g.api + "/meshes/big", {"type": "Mesh", "name": "big", "pad": "x" * 20000})
    assert status == 413, body
    assert "limit" in body["details"]
    assert g.get("/meshes/big")[0] == 404


def test_bad_bodies_name_the_field(cluster):
    g = cluster.add(Global(cluster.dir))
    status, body = g.put("/meshes/m", "type: Mesh\nname: other\n", content_type="application/yaml")
    assert status == 400 and body["causes"][0]["field"] == "name"
    status, body = g.put("/meshes/m", "type: Mesh\nname: [unclosed\n", content_type="application/yaml")
    assert status == 400 and "line" in body["details"]
    status, body = g.put("/meshes/m", {"type": "Mesh", "name": "m", "mtls": {"enabledBackend": "nope"}})
    assert status == 400 and body["causes"][0]["field"] == "mtls.enabledBackend"
    status, body = http("PUT", g.api + "/meshes/m/dataplanes/x", {})
    assert status in (404, 405)
