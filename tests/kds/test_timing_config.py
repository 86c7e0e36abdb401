"""Both processes' `kds:` sections extend the protocol's one Timing, under the
same YAML keys and MZSIM_KDS_* variables as before."""
from __future__ import annotations

from common.config import load
from common.kds.protocol import Timing
from global_cp.config import GlobalConfig
from zone_cp.config import ZoneConfig


def test_global_kds_section_from_yaml_and_env(tmp_path):
    path = tmp_path / "global.yaml"
    path.write_text("kds:\n  heartbeat_interval: 500ms\n  max_frame_bytes: 65536\n  require_zone_token: false\n")
    cfg = load(GlobalConfig, str(path), env={"MZSIM_KDS_LIVENESS_TIMEOUT": "3s", "MZSIM_KDS_ACK_TIMEOUT": "1m"})
    assert isinstance(cfg.kds, Timing)
    assert (cfg.kds.heartbeat_interval, cfg.kds.liveness_timeout, cfg.kds.ack_timeout) == (0.5, 3.0, 60.0)
    assert cfg.kds.max_frame_bytes == 65536 and cfg.kds.require_zone_token is False


def test_zone_kds_section_from_env_and_flags():
    cfg = load(ZoneConfig, env={"MZSIM_KDS_RECONNECT_CAP": "2s", "MZSIM_KDS_HEARTBEAT_INTERVAL": "250ms"},
               overrides={"kds": {"reconnect_base": "100ms", "ack_timeout": "5s"}})
    assert isinstance(cfg.kds, Timing)
    assert (cfg.kds.heartbeat_interval, cfg.kds.ack_timeout) == (0.25, 5.0)
    assert (cfg.kds.reconnect_base, cfg.kds.reconnect_cap) == (0.1, 2.0)
    assert cfg.kds.liveness_timeout == Timing().liveness_timeout
