"""Zone-reported resources on global (Dataplane, DataplaneInsight, ZoneInsight).

They live in their own store (zones.db) so that insight churn from hundreds
of zones never bumps the revision that drives pushes to zones. A row's key is
(kind, mesh, `{zone}.{name}`): zone names are DNS-1123 labels (checked at
connect) and hold no dot, so the first dot splits zone from name and zone
`zone-2.web`'s `1` can never land on zone-2's `web.1`. A Dataplane for a mesh
global does not have is NACKed for that resource, and kept aside: it is stored
once the mesh is created (the zone does not resend an unchanged resource)."""
from __future__ import annotations

from collections.abc import Callable

from common.kds.adapters import check_batch
from common.kds.kinds import UPSTREAM_KINDS
from common.kds.messages import Batch
from common.resources import Resource
from common.store import Store


def global_name(zone: str, name: str) -> str:
    assert "." not in zone, "zone names are DNS-1123 labels"
    return f"{zone}.{name}"


class ZoneDataSink:
    """Applies one zone's upstream batches to global's zone-data store."""

    def __init__(self, store: Store, zone: str, mesh_exists: Callable[[str], bool] = lambda _: True):
        self.store = store
        self.zone = zone
        self.mesh_exists = mesh_exists
        self.parked: dict[tuple[str, str, str], Resource] = {}  # NACKed for a missing mesh, by (kind, mesh, name)

    def _check(self, r: Resource) -> str | None:
        if r.kind != "ZoneInsight" and r.mesh and not self.mesh_exists(r.mesh):
            self.parked[(r.kind, r.mesh, r.name)] = r
            return f"mesh {r.mesh!r} does not exist on global; create it there first"
        return None

    def mesh_created(self, mesh: str) -> None:
        """Store what this zone reported for `mesh` before global had it."""
        keys = [k for k in self.parked if k[1] == mesh]
        if keys:
            self.store.apply([self._rename(self.parked.pop(k)) for k in keys], [])

    def _rename(self, r: Resource) -> Resource:
        out = r.copy()
        out.name = global_name(self.zone, r.name)
        out.meta = {"zone": self.zone, "zoneName": r.name}
        if r.kind == "ZoneInsight":
            out.name = self.zone
        return out

    def apply(self, batch: Batch) -> list[str]:
        if batch.full:
            self.parked.clear()
        good, removals, rejected = check_batch(batch, UPSTREAM_KINDS, self._check)
        for k, m, n in removals:
            self.parked.pop((k, m or "", n), None)
        upserts = [self._rename(r) for r in good]
        rms = [(k, m, global_name(self.zone, n)) for k, m, n in removals]
        if batch.full:
            # Reconcile: this zone's rows become exactly what it sent.
            self.store.replace_all(
                [k for k in UPSTREAM_KINDS if k != "ZoneInsight"],
                [u for u in upserts if u.kind != "ZoneInsight"],
                name_prefix=global_name(self.zone, ""),  # this zone's rows only, by index
            )
            self.store.apply([u for u in upserts if u.kind == "ZoneInsight"], rms)
        else:
            self.store.apply(upserts, rms)
        return rejected
