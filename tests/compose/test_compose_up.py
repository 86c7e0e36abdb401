"""The compose demo for real (marker `compose`): build the image, `docker compose
up -d --wait`, and check what the demo promises: three zones online and in sync,
certificates from all four backends in every zone that can serve them, a stopped
zone going offline within the liveness timeout and coming back in sync, and
`down -v` leaving no container, network or volume behind.

Needs a Docker engine, or compose/local-engine.sh's podman (export what it
prints). Run: python -m pytest -m compose -v tests/compose"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.request

import pytest

from mzsim.waiting import free_port, wait_until

from .engine import COMPOSE_DIR, Compose, EngineMissing, leftovers

pytestmark = [pytest.mark.compose, pytest.mark.timeout(1200)]

PROJECT = "mzsim-composetest"
ZONES = ["zone-1", "zone-2", "zone-3"]
MESHES = {"default": "ca-1", "vault": "vault-1", "acmpca": "acmpca-1",
          "certmanager": "certmanager-1"}  # mesh -> its enabled backend's name
SERVED_BY = {"default": ZONES, "vault": ZONES, "acmpca": ZONES, "certmanager": ["zone-1"]}
DATAPLANES = 10  # per zone and mesh, as in docker-compose.yml
LIVENESS_TIMEOUT = 5.0  # kds.liveness_timeout, global's default (common/kds/protocol.py)


def say(msg: str) -> None:
    print(f"[compose-test] {msg}", file=sys.stderr, flush=True)


def get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read(5 * 1024 * 1024))


@pytest.fixture(scope="module")
def stack(request):
    """The built, started project; always taken down (down -v) at the end."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    ports = {name: str(free_port()) for name in ("MZSIM_GLOBAL_PORT", "MZSIM_ZONE1_PORT", "MZSIM_ZONE2_PORT",
                                                 "MZSIM_ZONE3_PORT")}
    try:
        compose = Compose(PROJECT, ports)
    except EngineMissing as e:
        pytest.fail(str(e))
    ca = os.environ.get("MZSIM_BUILD_CA_FILE", "")
    ca_copy = os.path.join(COMPOSE_DIR, "extra-ca", "build-ca.crt")
    timings: dict[str, float] = {}
    with capture.global_and_fixture_disabled():  # progress while it builds
        compose.run("down", "-v", "--remove-orphans", timeout=120)  # a previous run's leftovers
        try:
            if ca:
                shutil.copyfile(ca, ca_copy)
            say(f"building the image (base {os.environ.get('MZSIM_BASE_IMAGE') or 'python:3.11-slim'}) ...")
            t0 = time.monotonic()
            compose.run("build", "global", timeout=900, stream=True)
            timings["build"] = time.monotonic() - t0
        finally:
            if os.path.exists(ca_copy):
                os.remove(ca_copy)
        say(f"image built in {timings['build']:.0f}s; docker compose up -d --wait ...")
        t0 = time.monotonic()
        compose.run("up", "-d", "--wait", "--wait-timeout", "300", timeout=360, stream=True)
        timings["up"] = time.monotonic() - t0
        say(f"up and healthy in {timings['up']:.0f}s")
        print(compose.run("ps", "-a"), file=sys.stderr, flush=True)
    global_api = f"http://127.0.0.1:{ports['MZSIM_GLOBAL_PORT']}"
    yield {"compose": compose, "api": global_api, "timings": timings}
    with capture.global_and_fixture_disabled():
        if request.session.testsfailed:
            print(compose.run("logs", "--no-color", "--tail", "40", check=False), file=sys.stderr, flush=True)
        compose.run("down", "-v", "--remove-orphans", timeout=120, check=False)


def zone_status(api: str) -> dict[str, dict]:
    return {z["name"]: z for z in get(f"{api}/status/zones")}


def in_sync(z: dict) -> bool:
    """Online, at global's version, and rejecting nothing but what a universal zone
    cannot serve: the certmanager mesh (it NACKs it, as Kuma does)."""
    if not z["active"] or z["ackedVersion"] != z["globalVersion"]:
        return False
    if z["environment"] == "kubernetes":
        return z["inSync"]
    return all(r.startswith("Mesh certmanager:") for r in z["rejected"])


def issued(api: str, mesh: str) -> dict[str, int]:
    """zone -> dataplanes of `mesh` holding a certificate from the mesh's backend."""
    out: dict[str, int] = {}
    for dp in get(f"{api}/meshes/{mesh}/dataplanes/_overview?size=1000")["items"]:
        mtls = (dp.get("dataplaneInsight") or {}).get("mTLS") or {}
        if mtls.get("status") == "ok" and mtls.get("issuedBackend") == MESHES[mesh] and mtls.get("serial"):
            out[dp["zone"]] = out.get(dp["zone"], 0) + 1
    return out


def test_every_service_is_healthy(stack):
    out = stack["compose"].run("ps", "-a", "--format", "json")
    rows = [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]
    if not rows:  # older v2 print one JSON array
        rows = json.loads(out)
    state = {r["Service"]: (r["State"], r.get("Health", ""), r.get("ExitCode")) for r in rows}
    long_running = ["openbao", "acmpca", "kube-api", "certmanager-controller", "global", *ZONES]
    for s in long_running:
        assert state[s][:2] == ("running", "healthy"), f"{s}: {state[s]}"
    for job in ("tokens", "bootstrap"):
        assert state[job][0] == "exited" and state[job][2] == 0, f"{job}: {state[job]}"


def test_three_zones_online_and_in_sync(stack):
    api = stack["api"]
    zones = wait_until(lambda: (s := zone_status(api)) and all(in_sync(s.get(z, {"active": False})) for z in ZONES)
                       and s, 120, interval=0.5, what="three zones online and in sync")
    assert sorted(zones) == ZONES
    assert zones["zone-1"]["environment"] == "kubernetes"
    assert {zones[z]["environment"] for z in ("zone-2", "zone-3")} == {"universal"}
    insight = get(f"{api}/global-insight")
    assert insight["zones"]["online"] == 3 and insight["meshes"] == 4


@pytest.mark.parametrize("mesh", list(MESHES))
def test_certificates_issued_in_every_zone_that_serves_the_mesh(stack, mesh):
    api = stack["api"]
    want = {z: DATAPLANES for z in SERVED_BY[mesh]}
    got = wait_until(lambda: (n := issued(api, mesh)) == want and n, 180, interval=1.0,
                     what=f"mesh {mesh}: {DATAPLANES} certificates from {MESHES[mesh]} in {', '.join(want)}")
    assert got == want


def test_stopped_zone_goes_offline_then_resyncs(stack):
    api, compose = stack["api"], stack["compose"]
    t0 = time.monotonic()
    compose.run("stop", "zone-2", timeout=60)
    stop_took = time.monotonic() - t0
    wait_until(lambda: not zone_status(api)["zone-2"]["active"], stop_took + LIVENESS_TIMEOUT + 2.0, interval=0.2,
               what="global to mark the stopped zone-2 offline within the liveness timeout")
    offline_after = time.monotonic() - t0
    say(f"zone-2 offline {offline_after:.1f}s after `stop` began (the stop itself took {stop_took:.1f}s)")
    others = zone_status(api)
    assert in_sync(others["zone-1"]) and in_sync(others["zone-3"]), "the other zones must stay online"

    compose.run("start", "zone-2", timeout=120)
    wait_until(lambda: in_sync(zone_status(api)["zone-2"]), 90, interval=0.5, what="zone-2 back online and in sync")
    wait_until(lambda: issued(api, "vault").get("zone-2") == DATAPLANES, 90, interval=1.0,
               what="zone-2's dataplanes with vault certificates again")


def test_down_removes_everything(stack):
    compose = stack["compose"]
    compose.run("down", "-v", timeout=120)
    assert leftovers(PROJECT) == {"containers": [], "networks": [], "volumes": []}
    say("timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in stack["timings"].items()))
