"""A zone's full upstream snapshot on global reconciles that zone's rows only,
found by an index range on its name prefix (bench/zone_snapshot.py has the cost)."""
from __future__ import annotations

import pytest

from common.kds.messages import Batch
from common.resources import Resource
from common.store import Store
from global_cp.zone_data import ZoneDataSink


def dp(name: str) -> Resource:
    return Resource("Dataplane", name, "default", {"networking": {
        "address": "10.0.0.1", "inbound": [{"port": 80, "tags": {"kuma.io/service": "web"}}]}})


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "zones.db"))
    yield s
    s.close()


def names(store: Store) -> list[str]:
    return sorted(r.name for r in store.list("Dataplane"))


def test_a_full_snapshot_removes_only_that_zones_stale_rows(store):
    # zone-1 is a prefix of zone-10's name: the dot after the zone keeps them apart
    for zone in ("zone-1", "zone-10", "zone-2"):
        ZoneDataSink(store, zone).apply(Batch("a", True, [dp("web"), dp("old")]))
    assert len(names(store)) == 6
    ZoneDataSink(store, "zone-1").apply(Batch("b", True, [dp("web"), dp("new")]))
    assert names(store) == ["zone-1.new", "zone-1.web", "zone-10.old", "zone-10.web", "zone-2.old", "zone-2.web"]


def test_an_unchanged_full_snapshot_writes_nothing(store):
    sink = ZoneDataSink(store, "zone-1")
    sink.apply(Batch("a", True, [dp("web"), dp("api")]))
    rev = store.revision
    sink.apply(Batch("b", True, [dp("api"), dp("web")]))
    assert store.revision == rev


def test_a_full_snapshot_does_not_decode_other_zones_rows(store, monkeypatch):
    for z in range(20):
        ZoneDataSink(store, f"zone-{z}").apply(Batch("a", True, [dp("web")]))
    decoded: list[str] = []
    real_row = Store._row
    monkeypatch.setattr(Store, "_row", staticmethod(lambda row: decoded.append(row[2]) or real_row(row)))
    ZoneDataSink(store, "zone-3").apply(Batch("b", True, [dp("web")]))
    assert decoded and all(n.startswith("zone-3.") for n in decoded), decoded
