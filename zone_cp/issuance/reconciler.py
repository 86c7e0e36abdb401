"""What should exist: the proxies of every mesh with mTLS enabled, and when
each needs a certificate. Pure: mesh views and dataplane tags go in, plans
come out; time is passed in. No asyncio, no store, no clock.

- A proxy needs a (new) certificate when the one it holds was not issued for
  its mesh's current fingerprint and its current tags (`ProxyState.wanted`).
- A mesh whose fingerprint changes needs a new worker pool (backend), and all its
  dataplanes are looked at again; one whose mTLS is switched off or that is
  deleted loses its pool and its proxies.
- After an issue, renewal is due at a point drawn uniformly from the band
  [renew_fraction - renew_jitter, renew_fraction] of the certificate's actual
  lifetime, from max(notBefore, request time) to notAfter: never later than
  renew_fraction (Kuma's 4/5), and spread so that thousands of certificates
  issued together do not all renew together again (the rng is injected).
"""
from __future__ import annotations

import collections
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from common.x509util import IssuedCert

from .meshes import MeshView
from .state import DEFER, OK, PENDING, ProxyKey, ProxyState

MIN_RENEW_DELAY = 0.5  # never renew sooner than this after an issue, whatever the certificate says
PENDING_GRACE = 2.0  # a new proxy's insight says "pending" only if it waits longer than this

Tags = dict[str, list[str]]


@dataclass
class Plan:
    """What a change calls for. Carry it out in this order: the pool first (a
    retired pool frees its queued proxies, so they can be reissued), then drops,
    then reissues (of those not in flight: a completion reschedules its proxy)."""
    replace_pool: MeshView | None = None  # build a new worker pool for this view, retiring the old one
    retire_pool: str | None = None  # the mesh whose pool goes
    dropped: list[ProxyKey] = field(default_factory=list)  # forget; remove their DataplaneInsight
    reissue: list[ProxyKey] = field(default_factory=list)  # due now, with a fresh backoff
    marked: list[ProxyKey] = field(default_factory=list)  # their DataplaneInsight changed
    relisted: bool = False  # every dataplane of the mesh was looked at


class Reconciler:
    def __init__(self, renew_fraction: float, renew_jitter: float = 0.0, rng: random.Random | None = None):
        self.renew_fraction, self.renew_jitter = renew_fraction, renew_jitter
        self.rng = rng or random.Random()
        self.meshes: dict[str, MeshView] = {}
        self.proxies: dict[ProxyKey, ProxyState] = {}
        self._by_mesh: dict[str, set[ProxyKey]] = collections.defaultdict(set)

    def needs_dataplanes(self, mesh: str, view: MeshView | None) -> bool:
        """True if `view` calls for a new worker pool: pass the mesh's dataplanes to `mesh()`."""
        old = self.meshes.get(mesh)
        return view is not None and (old is None or old.fingerprint != view.fingerprint)

    def mesh(self, mesh: str, view: MeshView | None, dataplanes: Iterable[tuple[str, Tags]] | None,
             now: float) -> Plan:
        """The mesh is now `view` (None: gone or mTLS off). `dataplanes` (name, tags), all of the
        mesh's, are required when `needs_dataplanes()` and ignored otherwise."""
        old = self.meshes.get(mesh)
        if view is None:
            if old is None:
                return Plan()
            del self.meshes[mesh]
            return Plan(retire_pool=mesh, dropped=self._drop_all(mesh), relisted=True)
        if old is not None and old.fingerprint == view.fingerprint:
            if old.supported == view.supported:
                return Plan()
            self.meshes[mesh] = view
            return Plan(marked=sorted(self._by_mesh.get(mesh, ())))
        if dataplanes is None:
            raise ValueError(f"mesh {mesh}: a new backend needs the mesh's dataplanes")
        self.meshes[mesh] = view
        plan = Plan(replace_pool=view, relisted=True)
        present = set()
        for name, tags in dataplanes:
            present.add((mesh, name))
            if self._upsert(view, name, tags, now):
                plan.reissue.append((mesh, name))
        for key in sorted(self._by_mesh.get(mesh, set()) - present):
            self._drop(key)
            plan.dropped.append(key)
        return plan

    def dataplane(self, key: ProxyKey, tags: Tags | None, now: float) -> Plan:
        """The dataplane now has `tags` (None: deleted). A deleted dataplane's insight goes
        even if the engine never knew it (one left from an earlier run)."""
        if tags is None:
            self._drop(key)
            return Plan(dropped=[key])
        view = self.meshes.get(key[0])
        if view is not None and self._upsert(view, key[1], tags, now):
            return Plan(reissue=[key])
        return Plan()

    def certified(self, p: ProxyState, cert: IssuedCert, wanted: str, requested: float, now: float) -> float:
        """Record `cert`, issued for `wanted` on a request at `requested`; return when `p` is due next."""
        leaf = cert.leaf
        not_before, not_after = leaf.not_valid_before_utc.timestamp(), leaf.not_valid_after_utc.timestamp()
        start = max(not_before, requested)
        p.cert, p.serial = cert, format(leaf.serial_number, "x")
        _ = cert.chain_problem  # (cached) the insight reports it
        # What the engine needs from the parsed leaf is copied above; the parsed object costs a few KB
        # of native memory per dataplane held, so it is parsed again only if someone asks (the API).
        cert.__dict__.pop("leaf", None)
        p.not_before, p.not_after = not_before, not_after
        fraction = self.renew_fraction - (self.rng.random() * self.renew_jitter if self.renew_jitter else 0.0)
        p.renew_at = start + fraction * (not_after - start)
        p.issued_for = wanted
        p.regenerations += 1
        p.last_regeneration = now
        p.status = OK
        view = self.meshes.get(p.mesh)
        if view is None or p.wanted(view.fingerprint) != wanted:  # changed while it was issued
            return now
        return max(p.renew_at, now + MIN_RENEW_DELAY)

    def identity(self, key: ProxyKey, now: float) -> IssuedCert | None:
        p = self.proxies.get(key)
        if p is None or p.cert is None or (p.not_after or 0) <= now:
            return None
        return p.cert

    def certified_count(self, now: float) -> int:
        return sum(1 for p in self.proxies.values() if p.cert is not None and (p.not_after or 0) > now)

    def insight(self, key: ProxyKey, now: float) -> object:
        """The DataplaneInsight spec to write; None if the proxy is gone; DEFER."""
        p = self.proxies.get(key)
        view = self.meshes.get(key[0])
        if p is None or view is None:
            return None
        if p.status == PENDING and now - p.created < PENDING_GRACE:
            return DEFER  # its first certificate is likely moments away: write that instead
        return p.insight_spec(view.supported)

    def _upsert(self, view: MeshView, name: str, tags: Tags, now: float) -> bool:
        """Track the proxy; True if it needs a certificate it does not hold."""
        key = (view.name, name)
        tags_fp = json.dumps(tags, sort_keys=True)
        p = self.proxies.get(key)
        if p is None:
            p = self.proxies[key] = ProxyState(view.name, name, tags, tags_fp, created=now)
            self._by_mesh[view.name].add(key)
        elif p.tags_fp != tags_fp:
            p.tags, p.tags_fp = tags, tags_fp
        return p.issued_for != p.wanted(view.fingerprint)

    def _drop(self, key: ProxyKey) -> None:
        if self.proxies.pop(key, None) is not None:
            self._by_mesh[key[0]].discard(key)

    def _drop_all(self, mesh: str) -> list[ProxyKey]:
        keys = sorted(self._by_mesh.pop(mesh, ()))
        for key in keys:
            self.proxies.pop(key, None)
        return keys
