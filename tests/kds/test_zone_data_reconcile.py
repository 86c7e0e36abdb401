"""A zone's full upstream snapshot on global reconciles that zone's rows only,
found by an index range on its name prefix (bench/zone_snapshot.py has the cost)."""
from __future__ import annotations

import sqlite3

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


def test_a_full_snapshot_does_not_decode_other_zones_rows(tmp_path):
    path = str(tmp_path / "zones.db")
    store = Store(path)
    for z in range(20):
        ZoneDataSink(store, f"zone-{z}").apply(Batch("a", True, [dp("web"), dp("old")]))
    # Every other zone's rows become undecodable, in the file itself: a reconcile that
    # read them (the old scan over every zone) fails on them.
    with sqlite3.connect(path) as db:
        db.execute("UPDATE resources SET spec='{not json', meta='{not json' WHERE name NOT LIKE 'zone-3.%'")
    ZoneDataSink(store, "zone-3").apply(Batch("b", True, [dp("web")]))
    assert store.get("Dataplane", "zone-3.web", "default") is not None
    assert store.get("Dataplane", "zone-3.old", "default") is None
    store.close()
