"""Samples a running scenario once a second for the timeline and the progress
lines: certified dataplanes per mesh and the breaker states per zone, read
from the zones' own APIs (the zone is the truth, even when global is down)."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field

from common.timefmt import parse_time

INTERVAL = 1.0


@dataclass
class Sample:
    t: float  # seconds since the scenario started
    certified: dict[str, int] = field(default_factory=dict)  # mesh -> dataplanes with a valid certificate
    dataplanes: dict[str, int] = field(default_factory=dict)  # mesh -> dataplanes
    issued_by: dict[str, int] = field(default_factory=dict)  # "mesh/backend" -> valid certificates from it
    breakers: dict[str, str] = field(default_factory=dict)  # "zone mesh/backend" -> closed|open|half-open
    zones_up: int = 0


class Sampler:
    def __init__(self, cluster):
        self.cluster = cluster
        self.samples: list[Sample] = []
        self._task: asyncio.Task | None = None
        self._acked: dict[str, object] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                self.samples.append(await self.sample())
            except (TypeError, ValueError, KeyError):
                pass  # an API mid-restart; the next sample will do
            await asyncio.sleep(max(0.0, INTERVAL - (time.monotonic() - started)))

    async def sample(self) -> Sample:
        c = self.cluster
        s = Sample(round(time.monotonic() - c.t0, 2))
        now = dt.datetime.now(dt.UTC)
        meshes = sorted({m for z in c.scenario.zones for m in z.meshes})
        status, zones = await c.global_get("/status/zones")
        if status == 200:  # ACKs: a zone's acknowledged version moved
            for z in zones:
                if z.get("ackedVersion") is not None and self._acked.get(z["name"]) != z["ackedVersion"]:
                    self._acked[z["name"]] = z["ackedVersion"]
                    c.event("ack", f"{z['name']} acked version {z['ackedVersion']}")
        for zone in c.running_zones():
            status, body = await c.zone_get(zone, "/status")
            if status != 200:
                continue
            s.zones_up += 1
            for b in (body.get("issuance") or {}).get("backends") or []:
                s.breakers[f"{zone} {b['mesh']}/{b['backend']}"] = b["breaker"]
            for mesh in meshes:
                status, ov = await c.zone_get(zone, f"/meshes/{mesh}/dataplanes/_overview")
                if status != 200:
                    continue
                for item in ov["items"]:
                    mtls = (item.get("dataplaneInsight") or {}).get("mTLS") or {}
                    exp = mtls.get("certificateExpirationTime")
                    s.dataplanes[mesh] = s.dataplanes.get(mesh, 0) + 1
                    valid = bool(exp and parse_time(exp) > now)
                    s.certified[mesh] = s.certified.get(mesh, 0) + valid
                    if valid:
                        key = f"{mesh}/{mtls.get('issuedBackend')}"
                        s.issued_by[key] = s.issued_by.get(key, 0) + 1
        return s

    def line(self) -> str:
        """Key counters of the last sample, for a progress line."""
        if not self.samples:
            return "no sample yet"
        s = self.samples[-1]
        certs = ", ".join(f"{m} {s.certified.get(m, 0)}/{n} certified" for m, n in s.dataplanes.items())
        opened = [k for k, v in s.breakers.items() if v != "closed"]
        return (f"zones up {s.zones_up}; {certs or 'no dataplanes'}; "
                + (f"breakers not closed: {', '.join(opened)}" if opened else "all breakers closed"))
