"""One real global and one connected zone for every hostile-input test in this
directory: each attack runs against them, then `intact` checks that the zone kept
its session and the mesh applied beforehand is unchanged on both sides."""
from __future__ import annotations

import shutil
import time

import pytest

from mzsim.launcher import Global, Zone, new_workdir, wait_connected
from mzsim.waiting import wait_until

KEEP = {"type": "Mesh", "name": "keep", "logging": {"backends": [
    {"name": "file-1", "type": "file", "conf": {"path": "/tmp/keep.log"}}]}}


FRAME = 256 * 1024  # global's KDS frame limit here
BATCH = 1024 * 1024  # and its limit for one received batch


class Hostile:
    def __init__(self, g: Global, z: Zone):
        self.g, self.z = g, z
        wait_connected(z)
        self.connect_time = wait_until(lambda: (g.zone_status(z.name) or {}).get("connectTime"), 10)

    def intact(self) -> None:
        """The zone's session survived and `keep` is the same on global and on the zone."""
        status = self.g.zone_status(self.z.name)
        assert status and status["active"], status
        if status["connectTime"] != self.connect_time:
            print(f"===== zone log =====\n{self.z.proc.log()[-4000:]}\n===== global log =====\n"
                  f"{self.g.proc.log()[-4000:]}")
        assert status["connectTime"] == self.connect_time, "the zone lost its session"
        for side in (self.g, self.z):
            code, mesh = side.get("/meshes/keep")
            assert code == 200 and mesh["logging"] == KEEP["logging"], (side, mesh)

    def timed(self, fn, limit: float = 1.0):
        """Run fn(); the API must answer /meshes/keep within `limit` seconds right after."""
        out = fn()
        start = time.monotonic()
        assert self.g.get("/meshes/keep")[0] == 200
        assert time.monotonic() - start < limit
        return out


@pytest.fixture(scope="package")
def hostile():
    d = new_workdir("mzsim-hostile-")
    g = Global(d, env={"MZSIM_KDS_LIVENESS_TIMEOUT": "5s", "MZSIM_KDS_MAX_FRAME_BYTES": str(FRAME),
                       "MZSIM_KDS_MAX_BATCH_BYTES": str(BATCH)}).start()
    z = Zone(d, "hz", g).start()
    ok = False
    try:
        assert g.put("/meshes/keep", KEEP)[0] == 201
        wait_until(lambda: z.mesh_names() == ["keep"], 15, what="keep on the zone")
        yield Hostile(g, z)
        ok = True
    finally:
        for p in (z, g):
            p.proc.stop()
            if not ok:
                print(f"\n===== {p.proc.log_path} =====\n{p.proc.log()[-6000:]}")
        if ok:
            shutil.rmtree(d, ignore_errors=True)
