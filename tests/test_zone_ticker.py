"""One periodic task for all zones of a process (zone_cp/ticker.py), and what the
zones hand it: a ZoneInsight written only when it changed, DataplaneInsight
flushes with no timer per zone."""
from __future__ import annotations

import asyncio

from common.resources import Resource
from mzsim.waiting import free_port
from zone_cp import ticker as ticker_mod
from zone_cp.app import Tickers, Zone
from zone_cp.config import ZoneConfig
from zone_cp.simulated import simulated_dataplanes
from zone_cp.ticker import SharedTicker


async def test_one_tick_calls_everyone_in_order_survives_a_failure_and_yields(monkeypatch):
    calls: list[int] = []
    t = SharedTicker(3600, "test")
    handles = {}

    def make(i: int):
        def fn() -> None:
            calls.append(i)
            if i == 1:
                raise RuntimeError("one zone's disk is full")
            if i == 2:
                t.remove(handles[3])  # removed during the tick: not called
        return fn

    for i in range(5):
        handles[i] = t.add(make(i))
    yielded = []
    loop_ran = asyncio.get_running_loop().call_soon(lambda: yielded.append(True))
    monkeypatch.setattr(ticker_mod, "SLICE", 0.0)  # yield after every callback
    await t.tick()
    assert calls == [0, 1, 2, 4] and len(t) == 4
    assert yielded, "the tick never gave the loop a turn"
    loop_ran.cancel()
    await t.stop()


async def test_a_zone_writes_its_insight_only_when_it_changes(tmp_path):
    base = ZoneConfig(name="z1", api_port=free_port(), data_dir=str(tmp_path))
    tickers = Tickers(SharedTicker(3600, "zone-insights"), SharedTicker(3600, "dataplane-insights"))
    z = Zone(base, tickers)
    await z.start()
    try:
        insight = z.store.get("ZoneInsight", "z1")
        assert insight is not None and insight.spec["dataplanes"] == 0
        revision = z.store.revision
        await tickers.zone_insights.tick()
        await tickers.zone_insights.tick()
        assert z.store.revision == revision  # unchanged: no transaction, no push to global
        z.store.apply(simulated_dataplanes("z1", 3, 1, "default"), [])
        await tickers.zone_insights.tick()
        assert z.store.get("ZoneInsight", "z1").spec["dataplanes"] == 3
        # Both of its periodic jobs ride on the shared tickers, none on a task of its own.
        assert len(tickers.zone_insights) == 1 and len(tickers.dataplane_insights) == 1
    finally:
        await z.stop()
    assert len(tickers.zone_insights) == 0 and len(tickers.dataplane_insights) == 0
    await tickers.stop()


async def test_dataplane_insights_are_flushed_by_the_shared_ticker(tmp_path):
    tickers = Tickers(SharedTicker(3600, "zone-insights"), SharedTicker(3600, "dataplane-insights"))
    z = Zone(ZoneConfig(name="z2", api_port=free_port(), data_dir=str(tmp_path)), tickers)
    await z.start()
    try:
        z.store.put(Resource("DataplaneInsight", "dp-0", "default", {"mTLS": {"status": "ok"}}))
        z.engine.insights.remove(("default", "dp-0"))  # e.g. its dataplane was deleted
        await asyncio.sleep(0.05)
        assert z.store.get("DataplaneInsight", "dp-0", "default") is not None  # no timer of its own
        await tickers.dataplane_insights.tick()
        assert z.store.get("DataplaneInsight", "dp-0", "default") is None
    finally:
        await z.stop()
        await tickers.stop()
