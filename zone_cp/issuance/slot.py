"""One (mesh, enabled backend): its backend object, breaker, queue and workers.

Each slot has its own queue and `concurrency` workers, so a slow or failing
backend only ever holds up its own mesh (Kuma issue #4509)."""
from __future__ import annotations

import asyncio

from common.ca.base import CABackend

from .config import IssuanceConfig
from .meshes import MeshView
from .policy import Breaker
from .state import ProxyKey, ProxyState


class BackendSlot:
    def __init__(self, view: MeshView, backend: CABackend | None, build_error: str, config: IssuanceConfig):
        self.mesh, self.name, self.type_name = view.name, view.backend_name, view.backend_type
        self.fingerprint = view.fingerprint
        self.backend = backend
        self.build_error = build_error  # the registry could not build the backend: every attempt fails with it
        self.breaker = Breaker(config.breaker_threshold, config.breaker_window, config.breaker_cooldown)
        self.queue: asyncio.Queue[ProxyState] = asyncio.Queue()
        self.parked: set[ProxyKey] = set()  # waiting for the half-open probe's outcome
        self.workers: list[asyncio.Task] = []
        self.last_error = ""

    @property
    def labels(self) -> dict[str, str]:
        return {"backend_type": self.type_name, "mesh": self.mesh, "backend": self.name}
