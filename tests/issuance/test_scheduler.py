"""The scheduler with a ManualClock: due proxies come out in time order, stale
heap entries are skipped and compacted, and the dispatch task sleeps until
the next due time or an earlier schedule."""
from __future__ import annotations

import asyncio

from mzsim.waiting import async_wait_until
from zone_cp.issuance import ManualClock
from zone_cp.issuance.scheduler import Scheduler
from zone_cp.issuance.state import ProxyKey, ProxyState


def proxies(*names: str) -> dict[ProxyKey, ProxyState]:
    return {("m1", n): ProxyState("m1", n, {}, "{}") for n in names}


def test_due_proxies_come_out_in_time_order_and_stale_entries_are_skipped():
    clock = ManualClock(1000.0)
    tracked = proxies("a", "b", "c", "d", "e")
    s = Scheduler(clock, tracked)
    a, b, c, d, e = tracked.values()
    s.schedule(c, 1003)
    s.schedule(a, 1001)
    s.schedule(b, 1002)
    s.schedule(d, 1001)
    s.schedule(d, 1010)  # rescheduled: its 1001 entry is stale
    s.schedule(e, 1002)
    e.in_flight = True  # dispatched meanwhile: its completion reschedules it
    del tracked[("m1", "c")]  # dropped
    assert s.next_due() == 1001 and len(s) == 6
    assert [p.name for p in s.due(1002.5)] == ["a", "b"]
    assert [p.name for p in s.due(1009)] == []  # c is gone
    assert s.next_due() == 1010 and [p.name for p in s.due(1010)] == ["d"]
    assert len(s) == 0 and s.next_due() is None


def test_what_is_scheduled_while_iterating_comes_out_in_the_same_pass():
    tracked = proxies("a", "b")
    s = Scheduler(ManualClock(0.0), tracked)
    a, b = tracked.values()
    s.schedule(a, 5)
    seen = []
    for p in s.due(10):
        seen.append(p.name)
        if p is a:
            s.schedule(b, 7)
    assert seen == ["a", "b"]


def test_stale_entries_are_compacted_once_they_dominate():
    tracked = proxies(*(f"dp-{i}" for i in range(10)))
    s = Scheduler(ManualClock(0.0), tracked)
    for i in range(4 * 10 + 1024):
        p = tracked[("m1", f"dp-{i % 10}")]
        s.schedule(p, 100.0 + i)
    assert not s.compact() and len(s) == 1064
    s.schedule(tracked[("m1", "dp-0")], 50.0)
    tracked[("m1", "dp-1")].in_flight = True
    assert s.compact() and len(s) == 9  # one live entry per proxy not in flight
    # Each at its latest time: dp-i was last scheduled at 100 + 1060 + i (i < 4), else 100 + 1050 + i.
    assert [p.name for p in s.due(1e9)] == ["dp-0"] + [f"dp-{i}" for i in (4, 5, 6, 7, 8, 9, 2, 3)]


async def test_run_dispatches_when_due_and_wakes_for_an_earlier_schedule():
    clock = ManualClock(1000.0)
    tracked = proxies("late", "early", "bad", "after")
    s = Scheduler(clock, tracked)
    dispatched: list[tuple[str, float]] = []

    def dispatch(p: ProxyState, now: float) -> None:
        if p.name == "bad":
            raise RuntimeError("a bug in one dispatch")
        dispatched.append((p.name, now))

    s.schedule(tracked[("m1", "late")], 1010)
    task = asyncio.create_task(s.run(dispatch))
    try:
        await async_wait_until(lambda: clock._waiters, what="the scheduler asleep until 1010")
        clock.advance(9)
        # The scheduler sleeps until 1010: an entry due now wakes it; "late" is not due yet.
        s.schedule(tracked[("m1", "bad")], clock.now())
        s.schedule(tracked[("m1", "early")], clock.now())
        await async_wait_until(lambda: dispatched, what="the early proxy")
        assert dispatched == [("early", 1009)]
        clock.advance(1)
        await async_wait_until(lambda: len(dispatched) == 2, what="the late proxy")
        assert dispatched[1] == ("late", 1010) and tracked[("m1", "late")].due == 1010
        # A failing dispatch did not stop the task.
        s.schedule(tracked[("m1", "after")], clock.now() + 5)
        clock.advance(5)
        await async_wait_until(lambda: len(dispatched) == 3, what="a proxy after the failing dispatch")
        assert dispatched[2] == ("after", 1015)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
