"""Global's configuration: defaults here, then --config FILE, then MZSIM_*."""
from __future__ import annotations

from dataclasses import dataclass, field

from common.ca.settings import BackendSettings
from common.config import duration_field
from common.datasource import DataSourceLimits
from common.httpapi import HttpLimits
from common.kds.protocol import Timing

from .lifecycle import StoreConfig


@dataclass
class KdsConfig(Timing):
    """`kds:` — the protocol's timing and frame limit, and whether zones need a token."""

    require_zone_token: bool = True


@dataclass
class ApiConfig:
    max_body_bytes: int = 1024 * 1024


@dataclass
class MtlsConfig:
    # Backend types whose new/changed backends are NOT test-issued on apply.
    # Kong Mesh 2.4+ skips acmpca and certmanager; mzsim validates all by default.
    skip_test_issue_types: list[str] = field(default_factory=list)
    test_issue_timeout: float = duration_field(30.0, "give up on a test issue after this long")


@dataclass
class GlobalConfig:
    host: str = "127.0.0.1"
    api_port: int = 5681
    kds_port: int = 5685
    data_dir: str = "./mzsim-data/global"
    kubeconfig: str = ""  # lets global test-issue from certmanager backends
    kds: KdsConfig = field(default_factory=KdsConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    mtls: MtlsConfig = field(default_factory=MtlsConfig)
    datasource: DataSourceLimits = field(default_factory=DataSourceLimits)  # file data sources: size, timeout
    http: HttpLimits = field(default_factory=HttpLimits)  # the API server's connection limits
    backends: BackendSettings = field(default_factory=BackendSettings)  # CA client tuning for test issues
