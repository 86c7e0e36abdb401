"""Zone-reported resources on global (Dataplane, DataplaneInsight, ZoneInsight).

They live in their own store (zones.db) so that insight churn from hundreds
of zones never bumps the revision that drives pushes to zones. Names are
prefixed with the zone (`{zone}.{name}`) so two zones may both have `web-1`."""
from __future__ import annotations

from common.kds.adapters import check_batch
from common.kds.kinds import UPSTREAM_KINDS
from common.kds.messages import Batch
from common.resources import Resource
from common.store import Store


def global_name(zone: str, name: str) -> str:
    return f"{zone}.{name}"


class ZoneDataSink:
    """Applies one zone's upstream batches to global's zone-data store."""

    def __init__(self, store: Store, zone: str):
        self.store = store
        self.zone = zone

    def _rename(self, r: Resource) -> Resource:
        out = r.copy()
        out.name = global_name(self.zone, r.name)
        out.meta = {"zone": self.zone, "zoneName": r.name}
        if r.kind == "ZoneInsight":
            out.name = self.zone
        return out

    def apply(self, batch: Batch) -> list[str]:
        good, removals, rejected = check_batch(batch, UPSTREAM_KINDS)
        upserts = [self._rename(r) for r in good]
        rms = [(k, m, global_name(self.zone, n)) for k, m, n in removals]
        if batch.full:
            # Reconcile: this zone's rows become exactly what it sent.
            self.store.replace_all(
                [k for k in UPSTREAM_KINDS if k != "ZoneInsight"],
                [u for u in upserts if u.kind != "ZoneInsight"],
                where=lambda r: r.meta.get("zone") == self.zone,
            )
            self.store.apply([u for u in upserts if u.kind == "ZoneInsight"], rms)
        else:
            self.store.apply(upserts, rms)
        return rejected
