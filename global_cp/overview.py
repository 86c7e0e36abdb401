"""Overviews in Kuma's shapes: ZoneOverview (`/zones/_overview`,
`/zones/{name}/_overview`) and MeshOverview (`/meshes/{mesh}/_overview`),
with mzsim's additions under names Kuma does not use (`status`, and the
per-mesh issuance summaries the zones report, `zoneInsight.meshes`)."""
from __future__ import annotations

from typing import Any

from common.errors import NotFound
from common.resources import Resource
from common.store import Store

from .dashboard.feed import cells_of
from .zones import ZoneRegistry


def _times(res: Resource | None) -> dict[str, Any]:
    meta = res.meta if res is not None else {}
    return {"creationTime": meta.get("creationTime"), "modificationTime": meta.get("modificationTime")}


class Overviews:
    def __init__(self, config_store: Store, zone_store: Store, zones: ZoneRegistry) -> None:
        self.config_store, self.zone_store, self.zones = config_store, zone_store, zones

    def zone(self, name: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
        if status is None and name not in self.zones.zone_names():  # a listing knows its zones exist
            raise NotFound(f"zone {name!r} not found; zones appear once they connect")
        res = self.config_store.get("Zone", name)
        reported = self.zone_store.get("ZoneInsight", name)
        spec = reported.spec if reported else {}
        status = status or self.zones.status(name)
        version = str(spec.get("version") or "")
        subs = []
        for s in self.zones.subscriptions(name):
            st = s["status"]
            # Kuma's lastUpdateTime: the zone's last answer (ACK or NACK), else its last frame.
            st = {**st, "lastUpdateTime": st.get("lastHeartbeat")}
            subs.append({**s, "status": st, "version": {"kumaCp": {"version": version}}})
        if subs and status.get("ackedAt") and subs[-1]["disconnectTime"] is None:
            subs[-1]["status"]["lastUpdateTime"] = status["ackedAt"]
        return {
            "type": "ZoneOverview", "name": name, **_times(res),
            "zone": {"enabled": status.get("enabled", True)},
            "zoneInsight": {"subscriptions": subs, "healthLastSeen": status.get("lastHeartbeat"),
                            "reported": spec, "meshes": list(cells_of(name, spec))},
            "status": status,
        }

    def all_zones(self) -> list[dict[str, Any]]:
        # The zone list is read once here, not once per zone: this backs listings of 1,000 zones.
        return [self.zone(s["name"], s) for s in self.zones.statuses()]

    def mesh(self, name: str) -> dict[str, Any]:
        mesh = self.config_store.get("Mesh", name)
        if mesh is None:
            raise NotFound(f"Mesh {name!r} not found")
        mtls = mesh.spec.get("mtls") or {}
        insights = self.zone_store.list("DataplaneInsight", name)
        issued: dict[str, dict[str, int]] = {}
        for ins in insights:
            m = ins.spec.get("mTLS") or {}
            backend = str(m.get("issuedBackend") or "")
            if backend:
                row = issued.setdefault(backend, {"total": 0, "online": 0, "offline": 0})
                row["total"] += 1
                row["online"] += 1
        per_zone = []
        for r in self.zone_store.list("ZoneInsight"):
            per_zone += [c for c in cells_of(r.name, r.spec) if c["mesh"] == name]
        dataplanes = self.zone_store.count("Dataplane", name)
        return {
            "type": "MeshOverview", "name": name, **_times(mesh),
            "mesh": {k: v for k, v in mesh.spec.items()},
            "meshInsight": {
                "dataplanes": {"total": dataplanes, "online": dataplanes, "offline": 0},
                "mTLS": {"issuedBackends": issued,
                         "supportedBackends": {str(b.get("name")): {"total": len(insights)}
                                               for b in mtls.get("backends") or []}},
            },
            "zones": sorted(per_zone, key=lambda c: c["zone"]),
        }
