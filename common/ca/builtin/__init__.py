"""`builtin`: a CA that global creates on the first apply and syncs to zones as
secrets `{mesh}.ca-builtin-cert-{backend}` and `{mesh}.ca-builtin-key-{backend}`."""
from __future__ import annotations

from ..types import BackendType
from .conf import check


def ca_secret_names(mesh: str, backend: str) -> tuple[str, str]:
    """(certificate secret, key secret) of a builtin backend (Kuma's naming)."""
    return f"{mesh}.ca-builtin-cert-{backend}", f"{mesh}.ca-builtin-key-{backend}"


TYPE = BackendType("builtin", check, "common.ca.builtin.backend", implicit_secrets=ca_secret_names)
