"""Mesh deletion as Kuma v2.14's mesh manager does it (pkg/core/managers/apis/mesh):
refused while dataplanes are attached unless `store.unsafe_delete` is on, and the
mesh goes first, taking every mesh-scoped resource with it (Kuma: owner references)."""
from __future__ import annotations

from dataclasses import dataclass

from common.ca import registry
from common.errors import ValidationError, Violation
from common.resources import KINDS, Resource
from common.store import RemovalKey, Store


@dataclass
class StoreConfig:
    """`store:` — as Kuma's KUMA_STORE_UNSAFE_DELETE: delete a mesh even with dataplanes attached."""

    unsafe_delete: bool = False


def delete_mesh(store: Store, zone_store: Store, name: str, *, unsafe: bool) -> tuple[int, int]:
    """Delete mesh `name` and what it owns. Returns (config resources, zone-reported resources) removed."""
    dataplanes = zone_store.list("Dataplane", name)
    if dataplanes and not unsafe:
        zones = sorted({str(d.meta.get("zone") or "?") for d in dataplanes})
        raise ValidationError([Violation("mesh", "unable to delete mesh, there are still some dataplanes attached "
                                                 f"({len(dataplanes)}, in zones {', '.join(zones)}); remove them, "
                                                 "or set store.unsafe_delete (MZSIM_STORE_UNSAFE_DELETE)")])
    scoped = [k for k, info in KINDS.items() if info.mesh_scoped]
    owned: list[RemovalKey] = [(k, name, r.name) for k in scoped for r in store.list(k, name)]
    store.apply([], [("Mesh", None, name), *owned])
    reported: list[RemovalKey] = [(k, name, r.name) for k in scoped for r in zone_store.list(k, name)]
    if reported:
        zone_store.apply([], reported)
    return len(owned), len(reported)


def missing_secrets(mesh: Resource, store: Store) -> list[int]:
    """Indexes of backends that read a secret the store lacks (e.g. builtin CA secrets lost to an
    earlier race): re-applying the mesh prepares them again."""
    backends = (mesh.spec.get("mtls") or {}).get("backends") or []
    out = []
    for i, b in enumerate(backends):
        if isinstance(b, dict) and any(store.get("Secret", s, mesh.name) is None
                                       for s in registry.backend_secrets(mesh.name, b)):
            out.append(i)
    return out
