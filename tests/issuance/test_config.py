"""The zone config's `issuance:` section is the engine's IssuanceConfig: the
same keys from YAML, MZSIM_ISSUANCE_* and flags, durations in Kuma's notation."""
from __future__ import annotations

import pytest

from common import config as cfgmod
from common.errors import BadRequest
from zone_cp.config import ZoneConfig
from zone_cp.issuance import IssuanceConfig


def test_yaml_env_and_flags_reach_the_engine_config(tmp_path):
    path = tmp_path / "zone.yaml"
    path.write_text("issuance:\n  dp_key_type: rsa\n  backoff_cap: 2m\n  breaker_window: 90s\n"
                    "  issue_timeout: 1m30s\n  renew_fraction: 0.5\n")
    env = {"MZSIM_ISSUANCE_BACKOFF_BASE": "500ms", "MZSIM_ISSUANCE_CONCURRENCY": "3",
           "MZSIM_ISSUANCE_INSIGHT_FLUSH_INTERVAL": "2s"}
    cfg = cfgmod.load(ZoneConfig, str(path), env=env, overrides={"issuance": {"breaker_threshold": 4}})
    assert isinstance(cfg.issuance, IssuanceConfig)
    i = cfg.issuance
    assert (i.dp_key_type, i.backoff_base, i.backoff_cap, i.breaker_window) == ("rsa", 0.5, 120.0, 90.0)
    assert (i.issue_timeout, i.renew_fraction, i.concurrency, i.breaker_threshold) == (90.0, 0.5, 3, 4)
    assert (i.insight_flush_interval, i.breaker_cooldown, i.backoff_jitter) == (2.0, 30.0, 0.2)


def test_unknown_issuance_keys_are_refused():
    with pytest.raises(BadRequest, match=r"unknown key issuance\.'backof'"):
        cfgmod.load(ZoneConfig, env={}, overrides={"issuance": {"backof": "5s"}})


@pytest.mark.parametrize(("fraction", "jitter", "message"), [
    (0.8, 0.8, r"renew_jitter must be at least 0 and below renew_fraction \(0\.8\), not 0\.8"),
    (0.8, -0.1, r"renew_jitter must be at least 0"),
    (1.2, 0.1, r"renew_fraction must be between 0 and 1"),
])
def test_a_renewal_band_outside_the_lifetime_is_refused(fraction, jitter, message):
    cfg = cfgmod.load(ZoneConfig, env={"MZSIM_ISSUANCE_RENEW_FRACTION": str(fraction),
                                       "MZSIM_ISSUANCE_RENEW_JITTER": str(jitter)})
    with pytest.raises(BadRequest, match=message):
        cfg.issuance.check()
    assert IssuanceConfig().renew_jitter == 0.1
