"""`provided`: the user's CA certificate and key, from data sources."""
from __future__ import annotations

from ..types import BackendType
from .conf import check

TYPE = BackendType("provided", check, "common.ca.provided.backend")
