"""Configuration: defaults < YAML file < MZSIM_* environment < flags, nested keys joined with '_'."""
from __future__ import annotations

import pytest

from common.config import load
from common.errors import BadRequest
from global_cp.config import GlobalConfig
from zone_cp.config import ZoneConfig


def test_backend_settings_come_from_the_file_and_the_environment(tmp_path):
    path = tmp_path / "zone.yaml"
    path.write_text("backends:\n  vault: {concurrency: 3}\n  certmanager: {wait_seconds: 1m}\n")
    cfg = load(ZoneConfig, str(path), env={"MZSIM_BACKENDS_VAULT_TIMEOUT_SECONDS": "2s",
                                           "MZSIM_BACKENDS_ACMPCA_ENDPOINT_URL": "http://127.0.0.1:1"})
    assert (cfg.backends.vault.concurrency, cfg.backends.vault.timeout_seconds) == (3, 2.0)
    assert cfg.backends.certmanager.wait_seconds == 60.0
    assert cfg.backends.acmpca.endpoint_url == "http://127.0.0.1:1"
    assert load(GlobalConfig, env={}).backends.vault.concurrency == 8


@pytest.mark.parametrize("text, expected", [("true", True), ("off", False), ("", None)])
def test_an_optional_boolean_parses(text, expected):
    cfg = load(ZoneConfig, env={"MZSIM_BACKENDS_LOCALCA_THREADS": text})
    assert cfg.backends.localca.threads is expected


def test_an_unknown_backend_key_names_the_known_ones(tmp_path):
    path = tmp_path / "zone.yaml"
    path.write_text("backends:\n  vault: {concurency: 3}\n")
    with pytest.raises(BadRequest, match="unknown key backends.vault.'concurency'.*concurrency"):
        load(ZoneConfig, str(path), env={})
