"""Synthetic dataplanes: `mzsim zone --dataplanes N --services S --mesh M[,M2]`.

N dataplanes per mesh, spread round-robin over S services."""
from __future__ import annotations

from common.resources import Resource


def simulated_dataplanes(zone: str, count: int, services: int, meshes: str) -> list[Resource]:
    services = max(1, services)
    out = []
    for m, mesh in enumerate(x.strip() for x in meshes.split(",") if x.strip()):
        for i in range(count):
            svc = f"svc-{i % services}"
            out.append(Resource("Dataplane", f"dp-{i}", mesh, {
                "networking": {
                    "address": f"10.{m & 255}.{(i >> 8) & 255}.{i & 255}",
                    "inbound": [{"port": 8080, "tags": {"kuma.io/service": svc, "kuma.io/zone": zone,
                                                        "mzsim.io/simulated": "true"}}],
                }
            }, {"labels": {"mzsim.io/simulated": "true"}}))
    return out
