"""The driver's two ports to the local store (Source: what we send; Sink:
what we receive) and the Store-backed Source. The sinks live with their
processes (global_cp/zone_data.py, zone_cp/downstream.py)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from ..resources import Resource
from ..store import Store
from ..validation import validate_resource
from .messages import Batch, resource_label
from .protocol import Removal

Filter = Callable[[Resource], bool]


@dataclass(frozen=True)
class Changes:
    """What a peer needs to reach `version`: everything (full) or a delta."""

    upserts: list[Resource]
    removals: list[Removal]
    version: int
    full: bool


class Source(Protocol):
    @property
    def store_id(self) -> str: ...

    @property
    def revision(self) -> int: ...

    def batch_since(self, since: int | None) -> Changes | None: ...


class Sink(Protocol):
    def apply(self, batch: Batch) -> list[str]: ...  # returns rejection messages


class StoreSource:
    """What one side sends: the given kinds of a store, optionally filtered."""

    def __init__(self, store: Store, kinds: Iterable[str], keep: Filter | None = None,
                 transform: Callable[[Resource], Resource] | None = None) -> None:
        self.store = store
        self.kinds = tuple(kinds)
        self.keep = keep or (lambda r: True)
        self.transform = transform or (lambda r: r)
        # One source serves every zone session; they mostly ask the same
        # question at the same revision, so remember the last answers.
        self._snapshot: tuple[int, list[Resource]] | None = None
        self._deltas: dict[int, tuple[list[Resource], list[Removal]] | None] = {}
        self._deltas_at = -1

    @property
    def store_id(self) -> str:
        return self.store.store_id

    @property
    def revision(self) -> int:
        return self.store.revision

    def batch_since(self, since: int | None) -> Changes | None:
        """What a peer at revision `since` (None: it has nothing) needs; None when it is up to date."""
        rev = self.store.revision
        if since is not None:
            if rev <= since:
                return None
            delta = self.changes_since(since)
            if delta is not None:
                return Changes(delta[0], delta[1], rev, full=False)
        return Changes(self.snapshot(), [], rev, full=True)

    def snapshot(self) -> list[Resource]:
        rev = self.store.revision
        if self._snapshot is None or self._snapshot[0] != rev:
            self._snapshot = (rev, [self.transform(r) for k in self.kinds for r in self.store.list(k)
                                    if self.keep(r)])
        return self._snapshot[1]

    def changes_since(self, version: int) -> tuple[list[Resource], list[Removal]] | None:
        """(upserts, removals) since `version`, or None when the store cannot tell (compacted)."""
        rev = self.store.revision
        if self._deltas_at != rev:
            self._deltas, self._deltas_at = {}, rev
        if version not in self._deltas:
            self._deltas[version] = self._changes_since(version)
        return self._deltas[version]

    def _changes_since(self, version: int) -> tuple[list[Resource], list[Removal]] | None:
        changes = self.store.changes_since(version, self.kinds)
        if changes is None:
            return None
        upserts, removals = changes
        ups = [self.transform(r) for r in upserts if self.keep(r)]
        rms = [rm for rm in removals if self.keep(Resource(rm[0], rm[2], rm[1]))]
        return ups, rms


def check_batch(batch: Batch, allowed_kinds: Iterable[str],
                extra_check: Callable[[Resource], str | None] | None = None,
                ) -> tuple[list[Resource], list[Removal], list[str]]:
    """Split a batch into the resources to apply and rejection messages.

    A rejection reads '<Kind> <mesh/>name: field: message' so the sender can
    count rejections per kind and a human can see what to fix."""
    allowed = set(allowed_kinds)
    good: list[Resource] = []
    rejected: list[str] = []
    for r in batch.upserts:
        label = resource_label(r.kind, r.mesh, r.name)
        if r.kind not in allowed:
            rejected.append(f"{label}: kind {r.kind} cannot be sent in this direction")
            continue
        violations = validate_resource(r)
        if violations:
            rejected.append(f"{label}: " + "; ".join(str(v) for v in violations))
            continue
        problem = extra_check(r) if extra_check else None
        if problem:
            rejected.append(f"{label}: {problem}")
            continue
        good.append(r)
    removals: list[Removal] = []
    for kind, mesh, name in batch.removals:
        if kind not in allowed:
            rejected.append(f"{kind} {name}: kind {kind} cannot be removed in this direction")
        else:
            removals.append((kind, mesh, name))
    return good, removals, rejected
