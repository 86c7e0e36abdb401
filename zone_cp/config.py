"""Zone configuration: defaults here, then --config FILE, then MZSIM_*."""
from __future__ import annotations

from dataclasses import dataclass, field

from common.ca.settings import BackendSettings
from common.config import duration_field
from common.datasource import DataSourceLimits
from common.httpapi import HttpLimits
from common.kds.protocol import Timing

from .issuance.config import IssuanceConfig


@dataclass
class ZoneKdsConfig(Timing):
    """`kds:` — the protocol's timing and frame limit, and the reconnect backoff."""

    reconnect_base: float = duration_field(0.5, "first reconnect delay")
    reconnect_cap: float = duration_field(15.0, "longest reconnect delay")
    reconnect_refused_cap: float = duration_field(
        2.0, "longest reconnect delay while global's address refuses connections (nothing listens: a restart)")
    ca_cert: str = ""  # verify global's wss:// certificate against this CA file (default: the system store)
    tls_skip_verify: bool = False  # wss:// without verifying global: only when asked for, never by default


@dataclass
class ZoneConfig:
    name: str = ""
    global_address: str = ""  # ws://host:5685 ; empty: run standalone
    token_file: str = ""  # may contain {zone}, for --count
    token: str = ""  # MZSIM_ZONE_TOKEN
    host: str = "127.0.0.1"
    api_port: int = 5682
    data_dir: str = "./mzsim-data/zones"
    environment: str = "universal"  # universal | kubernetes
    kubeconfig: str = ""
    system_namespace: str = "kong-mesh-system"
    count: int = 1
    name_prefix: str = "zone-"
    dataplanes: int = 0
    services: int = 1
    mesh: str = "default"
    kds: ZoneKdsConfig = field(default_factory=ZoneKdsConfig)
    issuance: IssuanceConfig = field(default_factory=IssuanceConfig)
    datasource: DataSourceLimits = field(default_factory=DataSourceLimits)  # file data sources: size, timeout
    http: HttpLimits = field(default_factory=HttpLimits)  # the API server's connection limits
    backends: BackendSettings = field(default_factory=BackendSettings)  # CA client tuning, per backend type
