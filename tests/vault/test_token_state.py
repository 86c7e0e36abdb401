"""The token bookkeeping rules, on a hand-driven clock."""
from __future__ import annotations

from common.ca.vault.token import TokenState


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_renewal_is_due_when_a_third_is_left():
    clock = Clock()
    state = TokenState.from_lookup({"ttl": 30, "creation_ttl": 30, "renewable": True}, clock=clock)
    assert state.can_renew() and not state.renewal_due()
    clock.now += 19
    assert not state.renewal_due()
    clock.now += 2
    assert state.renewal_due() and state.seconds_until_due() == 0
    state.renewed({"lease_duration": 30}, None)
    assert state.remaining() == 30 and state.can_renew()


def test_a_capped_renewal_ends_renewals_with_vaults_warning():
    clock = Clock()
    state = TokenState.from_lookup({"ttl": 30, "creation_ttl": 30, "renewable": True}, clock=clock)
    clock.now += 25
    warning = 'TTL of "30s" exceeded the effective max_ttl of "12s"; TTL value is capped accordingly'
    state.renewed({"lease_duration": 12}, [warning])
    assert not state.can_renew()
    assert state.not_renewable_reason == warning
    clock.now += 12
    assert state.expired()


def test_explicit_max_ttl_bounds_the_expiry_without_any_warning():
    clock = Clock()
    wall = 5000.0
    data = {"ttl": 30, "creation_ttl": 30, "renewable": True, "explicit_max_ttl": 50, "creation_time": wall - 10}
    state = TokenState.from_lookup(data, clock=clock, wall=lambda: wall)
    assert state.max_at == clock.now + 40
    clock.now += 25
    state.renewed({"lease_duration": 30}, None)  # Vault rounds the capped grant up and says nothing
    assert state.remaining() == 15
    assert state.not_renewable_reason == "the token reaches its explicit_max_ttl of 50s"
    assert not state.can_renew()


def test_non_renewable_and_never_expiring_tokens():
    clock = Clock()
    fixed = TokenState.from_lookup({"ttl": 10, "creation_ttl": 10, "renewable": False}, clock=clock)
    assert not fixed.can_renew() and fixed.not_renewable_reason == "the token is not renewable"
    root = TokenState.from_lookup({"ttl": 0, "renewable": False}, clock=clock)
    assert root.remaining() is None and not root.expired() and not root.renewal_due()
