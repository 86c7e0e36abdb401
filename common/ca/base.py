"""The CA backend runtime interface. One subpackage per backend type
(`common/ca/<type>/`); registry.py answers the static questions.

In the manner of Kuma's ca.Manager and SPIRE's upstream authorities:

- `ensure()` runs on global before a mesh is stored (builtin creates its CA
  and returns the secrets to store; others return nothing);
- `issue(identity, lifetime)` returns leaf + chain + key + roots;
- `root_certs()` returns the roots zones hand to data planes.

A backend object is built for one (mesh, backend spec) pair by the registry and
may be cached by its caller while the spec and its secrets stay the same.
Blocking clients (hvac, boto3) must run off the event loop (asyncio.to_thread)
with bounded concurrency; errors are raised as BackendError quoting the
backend's own message.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from ..datasource import SecretLookup, resolve, resolve_text
from ..durations import parse_duration
from ..metrics import Histogram, Registry
from ..resources import Resource
from ..x509util import Identity, IssuedCert
from .settings import BackendSettings
from .templates import render_common_name

DEFAULT_DP_LIFETIME = 24 * 3600.0
REQUEST_SECONDS = "mzsim_backend_request_seconds"
REQUEST_LABELS = ("backend_type", "mesh", "backend", "operation", "outcome")


@dataclass
class BackendContext:
    """What a backend may use from the process it runs in."""

    secret_lookup: SecretLookup | None = None
    environment: str = "universal"  # "universal" or "kubernetes" (zones); "global" on global
    dp_key_type: str = "ec"  # "ec" (P-256) or "rsa" (2048) for data plane keys
    kubeconfig: str | None = None  # certmanager: path to a kubeconfig
    system_namespace: str = "kong-mesh-system"
    settings: BackendSettings = field(default_factory=BackendSettings)  # process-level tuning per type
    metrics: Registry | None = None


class CABackend(abc.ABC):
    type_name: str = ""

    def __init__(self, mesh: str, spec: dict[str, Any], ctx: BackendContext) -> None:
        self.mesh = mesh
        self.spec = spec  # the whole backend entry: name, type, dpCert, conf
        self.name: str = spec.get("name", "")
        self.conf: dict[str, Any] = spec.get("conf") or {}
        self.ctx = ctx
        self._request_seconds: Histogram | None = None  # the histogram, once a request is observed

    # -- runtime --------------------------------------------------------------
    async def ensure(self) -> list[Resource]:
        """Global only: prepare the backend; return resources to store with the mesh."""
        return []

    @abc.abstractmethod
    async def issue(self, identity: Identity, lifetime_seconds: float) -> IssuedCert:
        """Issue a data plane certificate. Raise BackendError on failure."""

    @abc.abstractmethod
    async def root_certs(self) -> list[str]:
        """PEM root certificates that verify what `issue` returns."""

    def warnings(self) -> list[str]:
        """Configuration that works but is likely not what was meant; global's apply shows them."""
        return []

    async def close(self) -> None:  # noqa: B027 - an optional hook: most backends hold nothing to release
        """Release clients, sessions, threads."""

    # -- helpers for subclasses ----------------------------------------------
    @property
    def conf_path(self) -> str:
        return f"mtls.backends[{self.name}].conf"

    def observe_request(self, operation: str, outcome: str, seconds: float) -> None:
        """One request to the CA's server, in mzsim_backend_request_seconds (when metrics are on)."""
        if self.ctx.metrics is None:
            return
        if self._request_seconds is None:
            self._request_seconds = self.ctx.metrics.histogram(REQUEST_SECONDS, "Latency of CA backend requests",
                                                               REQUEST_LABELS)
        self._request_seconds.observe(seconds, backend_type=self.type_name, mesh=self.mesh, backend=self.name,
                                      operation=operation, outcome=outcome)

    def read(self, ds: object, field_name: str) -> bytes:
        return resolve(ds, f"{self.conf_path}.{field_name}", self.mesh, self.ctx.secret_lookup)

    def read_text(self, ds: object, field_name: str) -> str:
        return resolve_text(ds, f"{self.conf_path}.{field_name}", self.mesh, self.ctx.secret_lookup)

    def common_name(self, identity: Identity) -> str:
        """Render conf.commonName ('{{ tag "kuma.io/service" }}.mesh')."""
        return render_common_name(self.conf.get("commonName", ""), identity)


def dp_lifetime(spec: dict[str, Any]) -> float:
    """dpCert.rotation.expiration of a backend entry, in seconds (default 24h)."""
    exp = ((spec.get("dpCert") or {}).get("rotation") or {}).get("expiration")
    if not exp or exp == "0":
        return DEFAULT_DP_LIFETIME
    return parse_duration(exp)
