"""KDS frames a hostile zone can send, over a real websocket: each ends that session with a
4xxx code and a reason both sides keep, bounded memory, few log lines; the real zone is unaffected."""
from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mzsim.waiting import wait_until

from .conftest import BATCH, FRAME

ATTACKER = "attacker"


def resources(part: int = 1, parts: int = 1, **over) -> dict:
    return {"type": "resources", "nonce": "n1", "part": part, "parts": parts, "full": False, "version": 1,
            "upserts": [], "removals": [], **over}


def upsert(name: str, **over) -> dict:
    return {"kind": "Dataplane", "mesh": "keep", "name": name, "spec": {}, **over}


async def attacker_session(hostile, token: str):
    ws = await connect(hostile.g.kds + "/kds", additional_headers={"X-Mzsim-Zone": ATTACKER,
                                                                   "Authorization": f"Bearer {token}"},
                       max_size=None, ssl=hostile.g.kds_ssl())
    await ws.send(json.dumps({"type": "hello", "zone": ATTACKER, "zone_instance": "raw", "applied_version": 0,
                              "store_id": "", "max_frame_bytes": FRAME}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


async def closed_with(ws) -> tuple[int, str]:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed as e:
        assert e.rcvd is not None, "closed without a close frame"
        return e.rcvd.code, e.rcvd.reason


BAD = [
    ("not JSON", ["{nope"], 4400, "not JSON"),
    ("100k-deep JSON", ["[" * 100_000], 4400, "nesting"),
    ("huge number", ['{"type": "ack", "nonce": ' + "9" * 5000 + "}"], 4400, "digits"),
    ("parts out of order", [json.dumps(resources(1, 3)), json.dumps(resources(3, 3))], 4409, "out-of-order"),
    ("parts change", [json.dumps(resources(1, 3)), json.dumps(resources(2, 4))], 4409, "out-of-order"),
    ("upsert not an object", [json.dumps(resources(upserts=["x"]))], 4400, "upserts[0]"),
    ("removal kind a list", [json.dumps(resources(removals=[[["Mesh"], None, "x"]]))], 4400, "removals[0]"),
    ("version a string", [json.dumps(resources(version="abc"))], 4400, "version"),
    ("mesh a dict", [json.dumps(resources(upserts=[upsert("d", mesh={"a": 1})]))], 4400, "upserts[0]"),
    ("a million parts", [json.dumps(resources(1, 1_000_000))], 4413, "parts"),
    ("a second hello", [json.dumps({"type": "hello", "zone": ATTACKER, "zone_instance": "x", "applied_version": 0,
                                    "store_id": "", "max_frame_bytes": 1})], 4409, "unexpected hello"),
]


@pytest.mark.parametrize("label,frames,code,why", BAD, ids=[b[0] for b in BAD])
async def test_a_malformed_frame_closes_with_a_code_and_a_reason(hostile, label, frames, code, why):
    ws = await attacker_session(hostile, hostile.g.token(ATTACKER))
    for f in frames:
        await ws.send(f)
    got_code, reason = await closed_with(ws)
    assert got_code == code and why in reason, (got_code, reason)
    status = wait_until(lambda: (s := hostile.g.zone_status(ATTACKER)) and not s["active"] and s, 5)
    assert why in status["disconnectReason"], status
    log = hostile.g.proc.log()
    assert "Traceback" not in log and "connection handler failed" not in log
    hostile.intact()


async def test_a_batch_over_the_size_limit_is_refused_while_it_arrives(hostile):
    ws = await attacker_session(hostile, hostile.g.token(ATTACKER))
    part = FRAME - 4096
    n = BATCH // part + 2
    pad = "x" * (part - 300)
    try:
        for i in range(1, n + 1):
            await ws.send(json.dumps(resources(i, 1_000, upserts=[upsert(f"p{i}", meta={"pad": pad})])))
    except ConnectionClosed:
        pass
    code, reason = await closed_with(ws)
    assert code == 4413 and "max_batch_bytes" in reason, (code, reason)
    hostile.intact()


async def test_bad_frames_are_logged_once_per_interval(hostile):
    token = hostile.g.token(ATTACKER)
    before = hostile.g.proc.log().count("sent a bad frame")
    for _ in range(25):
        ws = await attacker_session(hostile, token)
        await ws.send("{nope")
        await closed_with(ws)
    assert hostile.g.proc.log().count("sent a bad frame") - before <= 2
    hostile.intact()


def test_a_resource_that_cannot_be_sent_is_not_in_sync(hostile):
    g, z = hostile.g, hostile.z
    backends = [{"name": f"file-{i}", "type": "file", "conf": {"path": f"/tmp/{'p' * 80}-{i}.log"}}
                for i in range(3000)]
    status, body = g.put("/meshes/huge", {"type": "Mesh", "name": "huge", "logging": {"backends": backends}})
    assert status == 201, body
    st = wait_until(lambda: (s := g.zone_status(z.name)) and s["rejected"] and s, 10, what="huge refused")
    assert not st["inSync"] and any("Mesh huge: not sent" in r and "frame limit" in r for r in st["rejected"]), st
    assert "huge" not in z.mesh_names()
    assert g.delete("/meshes/huge")[0] == 200
    wait_until(lambda: (s := g.zone_status(z.name)) and s["inSync"] and not s["rejected"], 10, what="in sync again")
    hostile.intact()
