"""`certmanager`: data plane certificates from cert-manager CertificateRequests,
in Kubernetes zones only (conf.py: the conf, backend.py: issuing, kube.py: the
lightkube client and cert-manager resource types)."""
from __future__ import annotations

from dataclasses import dataclass

from ...config import duration_field
from ..types import BackendType
from .conf import check


@dataclass
class CertmanagerSettings:
    wait_seconds: float = duration_field(30.0, "how long a CertificateRequest may take to be Ready")


TYPE = BackendType("certmanager", check, "common.ca.certmanager.backend",
                   zone_environments=frozenset({"kubernetes"}))
