"""Synthetic dataplanes: `mzsim zone --dataplanes N --services S --mesh M`."""
from __future__ import annotations

from common.resources import Resource


def simulated_dataplanes(zone: str, count: int, services: int, mesh: str) -> list[Resource]:
    services = max(1, services)
    out = []
    for i in range(count):
        svc = f"svc-{i % services}"
        out.append(Resource("Dataplane", f"dp-{i}", mesh, {
            "networking": {
                "address": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
                "inbound": [{"port": 8080, "tags": {"kuma.io/service": svc, "kuma.io/zone": zone,
                                                    "mzsim.io/simulated": "true"}}],
            }
        }, {"labels": {"mzsim.io/simulated": "true"}}))
    return out
