"""Per-proxy issuance state, and the DataplaneInsight it is reported as."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.timefmt import format_time
from common.x509util import IssuedCert

PENDING, OK, ERROR, BACKOFF, BREAKER_OPEN = "pending", "ok", "error", "backoff", "breaker-open"

ProxyKey = tuple[str, str]  # (mesh, dataplane)
# An insight spec that is not ready: look again next round (a new proxy about to be
# issued need not be written as "pending" first).
DEFER = object()


def iso(ts: float | None) -> str | None:
    return format_time(ts) if ts is not None else None


@dataclass(slots=True)  # one per dataplane: no per-instance dict
class ProxyState:
    mesh: str
    name: str
    tags: dict[str, list[str]]
    tags_fp: str
    created: float = 0.0
    due: float | None = None  # when the scheduler should dispatch it next
    in_flight: bool = False
    parked: bool = False  # waiting for a half-open probe's outcome
    status: str = PENDING
    # the current certificate
    cert: IssuedCert | None = None
    issued_for: str = ""  # mesh fingerprint + tags fingerprint the certificate was issued for
    serial: str = ""
    not_before: float | None = None
    not_after: float | None = None
    renew_at: float | None = None
    regenerations: int = 0
    last_regeneration: float | None = None
    # failures
    failures: int = 0
    last_error: str = ""
    last_error_time: float | None = None

    @property
    def key(self) -> ProxyKey:
        return (self.mesh, self.name)

    def wanted(self, mesh_fingerprint: str) -> str:
        """What its certificate must have been issued for: compared with `issued_for`."""
        return mesh_fingerprint + "|" + self.tags_fp

    def insight_spec(self, supported: tuple[str, ...]) -> dict[str, Any]:
        """Kuma's DataplaneInsight.mTLS field names, plus ours."""
        mtls: dict[str, Any] = {
            "status": self.status,
            "certificateRegenerations": self.regenerations,
            "supportedBackends": list(supported),
        }
        if self.cert is not None:
            mtls.update({
                "issuedBackend": self.cert.backend,
                "serial": self.serial,
                "notBefore": iso(self.not_before),
                "certificateExpirationTime": iso(self.not_after),
                "lastCertificateRegeneration": iso(self.last_regeneration),
            })
            if self.cert.chain_problem:
                mtls["warnings"] = [self.cert.chain_problem]
        if self.last_error:
            mtls["lastError"] = self.last_error
            mtls["lastErrorTime"] = iso(self.last_error_time)
        if self.due is not None:
            mtls["nextAttemptTime"] = iso(self.due)
        return {"mTLS": mtls}
