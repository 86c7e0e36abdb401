"""Applies what global sends (Mesh, Secret, GlobalSecret) to the zone's store."""
from __future__ import annotations

import logging
from collections.abc import Callable

from common.ca import registry
from common.kds.adapters import check_batch
from common.kds.kinds import DOWNSTREAM_KINDS
from common.kds.messages import Batch
from common.resources import Resource
from common.store import Store

log = logging.getLogger("mzsim.zone.kds")

APPLIED_VERSION = "kds.applied_version"
GLOBAL_STORE_ID = "kds.global_store_id"


def environment_check(environment: str) -> Callable[[Resource], str | None]:
    """A Mesh whose backends this zone's environment cannot run (certmanager outside Kubernetes) is rejected."""

    def check(r: Resource) -> str | None:
        if r.kind != "Mesh":
            return None
        return "; ".join(registry.environment_problems(r, environment)) or None

    return check


class ZoneDownstreamSink:
    def __init__(self, store: Store, environment: str, global_store_id: Callable[[], str]):
        self.store = store
        self.check = environment_check(environment)
        self.global_store_id = global_store_id

    def apply(self, batch: Batch) -> list[str]:
        good, removals, rejected = check_batch(batch, DOWNSTREAM_KINDS, self.check)
        state = {APPLIED_VERSION: str(batch.version), GLOBAL_STORE_ID: self.global_store_id()}
        if batch.full:
            sent = {r.key for r in batch.upserts}
            # Everything global did not send is gone; what it sent but we rejected stays as it was.
            self.store.replace_all(DOWNSTREAM_KINDS, good, where=lambda r: r.key not in sent, meta_updates=state)
        else:
            self.store.apply(good, removals, meta_updates=state)
        for msg in rejected:
            log.warning("rejected from global: %s", msg)
        return rejected


def applied_version(store: Store) -> tuple[str, int]:
    return store.get_meta(GLOBAL_STORE_ID, ""), int(store.get_meta(APPLIED_VERSION, "0"))
