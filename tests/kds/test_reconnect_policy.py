"""The zone's reconnect policy (issue 13): a global restart is met with short,
jittered retries; a session lost to silence keeps backing off."""
from __future__ import annotations

from zone_cp.config import ZoneKdsConfig
from zone_cp.kds_client import reconnect_after

CFG = ZoneKdsConfig(reconnect_base=0.5, reconnect_cap=15.0, reconnect_refused_cap=2.0, liveness_timeout=5.0)


def delays(*, refused: bool, silent: bool = False, established: bool = False, n: int = 12) -> tuple[int, float]:
    attempt, worst = 0, 0.0
    for _ in range(n):
        attempt, delay = reconnect_after(CFG, attempt, established=established, silent=silent, refused=refused,
                                         lasted=0.1)
        worst = max(worst, delay)
    return attempt, worst


def test_while_global_refuses_connections_retries_stay_under_the_refused_cap():
    attempt, worst = delays(refused=True)
    assert attempt == 12 and 0.25 <= worst <= 2.0


def test_failures_that_are_not_refusals_escalate_to_the_cap():
    _, worst = delays(refused=False, n=40)
    assert 2.0 < worst <= 15.0


def test_an_established_session_starts_the_next_outage_from_the_first_delay():
    attempt, delay = reconnect_after(CFG, 7, established=True, silent=False, refused=False, lasted=0.5)
    assert attempt == 1 and delay <= 0.5


def test_a_session_lost_to_silence_keeps_escalating():
    attempt, _ = reconnect_after(CFG, 7, established=True, silent=True, refused=False, lasted=0.5)
    assert attempt == 8
    attempt, _ = reconnect_after(CFG, 7, established=True, silent=True, refused=False, lasted=11.0)
    assert attempt == 1  # unless it was healthy for twice the liveness timeout
