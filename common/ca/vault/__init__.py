"""`vault`: data plane certificates from Vault PKI (conf.py: the conf, backend.py:
issuing, auth.py / token.py / session.py / errors.py: the client's parts)."""
from __future__ import annotations

from dataclasses import dataclass

from ...config import duration_field
from ..types import BackendType
from .conf import check


@dataclass
class VaultSettings:
    concurrency: int = 8  # requests in flight per backend (hvac blocks: each takes a worker thread)
    timeout_seconds: float = duration_field(10.0, "connect and read timeout of one request")


TYPE = BackendType("vault", check, "common.ca.vault.backend")
