"""Process-level tuning of the CA backends (not part of any Mesh): how many
requests in flight, timeouts, cache lifetimes. Global and zones nest
`BackendSettings` in their configuration as `backends`, so every knob is a
config key, e.g. `backends: {vault: {concurrency: 16}}` or
MZSIM_BACKENDS_VAULT_CONCURRENCY=16. The per-type classes live with their
types; builtin and provided share the local CA's."""
from __future__ import annotations

from dataclasses import dataclass, field

from .acmpca import AcmpcaSettings
from .certmanager import CertmanagerSettings
from .vault import VaultSettings


@dataclass
class LocalCASettings:
    # Sign on a worker thread: None decides by key type (RSA keys and an RSA CA are slow enough to move off
    # the event loop; EC signing is faster inline).
    threads: bool | None = None


@dataclass
class BackendSettings:
    localca: LocalCASettings = field(default_factory=LocalCASettings)  # builtin and provided
    vault: VaultSettings = field(default_factory=VaultSettings)
    acmpca: AcmpcaSettings = field(default_factory=AcmpcaSettings)
    certmanager: CertmanagerSettings = field(default_factory=CertmanagerSettings)
