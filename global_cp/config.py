"""Global's configuration: defaults here, then --config FILE, then MZSIM_*."""
from __future__ import annotations

from dataclasses import dataclass, field

from common.ca.settings import BackendSettings
from common.config import duration_field
from common.datasource import DataSourceLimits
from common.errors import BadRequest
from common.httpapi import HttpLimits
from common.kds.protocol import Timing

from .lifecycle import StoreConfig


@dataclass
class KdsTlsConfig:
    """`kds.tls:` — wss:// with cert/key files, or a CA and server cert global generates in its data dir."""

    enabled: bool = True  # false: plain ws:// (cheaper for thousands of zones on one box; see docs/security.md)
    cert_file: str = ""
    key_file: str = ""
    sans: list[str] = field(default_factory=list)  # extra names for the generated server cert (e.g. "global")


@dataclass
class KdsConfig(Timing):
    """`kds:` — the protocol's timing and frame limit, whether zones need a token, and TLS."""

    require_zone_token: bool = True
    tls: KdsTlsConfig = field(default_factory=KdsTlsConfig)


@dataclass
class AuthnConfig:
    """`api.authn:` — who a request without a token is (Kuma's apiServer.authn)."""

    localhost_is_admin: bool = True  # a request from a loopback address acts as mesh-system:admin
    anonymous_read: bool = True  # anonymous callers may GET meshes, zones, status and metrics


@dataclass
class ApiConfig:
    max_body_bytes: int = 1024 * 1024
    authn: AuthnConfig = field(default_factory=AuthnConfig)
    tls_cert: str = ""  # with tls_key: serve the API over HTTPS
    tls_key: str = ""


@dataclass
class AccessList:
    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=lambda: ["mesh-system:admin"])


@dataclass
class StaticAccess:
    """Kuma's access.static: who may do each protected action."""

    admin_resources: AccessList = field(default_factory=AccessList)  # Secret and GlobalSecret, every verb
    generate_zone_token: AccessList = field(default_factory=AccessList)
    generate_user_token: AccessList = field(default_factory=AccessList)


@dataclass
class AccessConfig:
    static: StaticAccess = field(default_factory=StaticAccess)


@dataclass
class TokensConfig:
    max_valid_for: float = duration_field(365 * 86400.0, "the longest validFor a zone or user token may ask for")


@dataclass
class MtlsConfig:
    # Backend types whose new/changed backends are NOT test-issued on apply.
    # Kong Mesh 2.4+ skips acmpca and certmanager; mzsim validates all by default.
    skip_test_issue_types: list[str] = field(default_factory=list)
    test_issue_timeout: float = duration_field(30.0, "give up on a test issue after this long")


@dataclass
class DashboardConfig:
    push_interval: float = duration_field(1.0, "how often the dashboard's viewers get an update")
    stale_after: float = duration_field(5.0, "the page says global is unreachable after this long without "
                                             "an update")
    max_events: int = 500  # events kept for the page (connects, NACKs, applies, failures, breakers)

    def check(self) -> None:
        for name in ("push_interval", "stale_after"):
            if getattr(self, name) <= 0:
                raise BadRequest(f"configuration dashboard.{name} must be positive, e.g. 1s "
                                 f"(MZSIM_DASHBOARD_{name.upper()})")
        if self.max_events < 1:
            raise BadRequest("configuration dashboard.max_events must be at least 1 (MZSIM_DASHBOARD_MAX_EVENTS)")


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
    access: AccessConfig = field(default_factory=AccessConfig)
    tokens: TokensConfig = field(default_factory=TokensConfig)
    backends: BackendSettings = field(default_factory=BackendSettings)  # CA client tuning for test issues
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
