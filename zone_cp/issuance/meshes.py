"""What the engine needs to know of a mesh: its enabled backend, and a
fingerprint of everything that should trigger a reissue when it changes (the
backend entry and the secrets it reads, a builtin CA included: registry.backend_secrets)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from common.ca import registry
from common.ca.base import dp_lifetime
from common.datasource import SecretLookup
from common.resources import Resource


@dataclass(frozen=True)
class MeshView:
    name: str
    backend_name: str
    backend_type: str
    spec: dict[str, Any]  # the enabled backend entry
    supported: tuple[str, ...]  # every backend name in the mesh
    fingerprint: str
    lifetime: float


def mesh_view(lookup: SecretLookup, mesh: Resource | None) -> MeshView | None:
    """None when the mesh is gone or mTLS is off (no enabled backend)."""
    if mesh is None:
        return None
    mtls = mesh.spec.get("mtls") or {}
    enabled = mtls.get("enabledBackend")
    backends = [b for b in mtls.get("backends") or [] if isinstance(b, dict)]
    spec = next((b for b in backends if b.get("name") == enabled), None) if enabled else None
    if spec is None:
        return None
    h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    for name in sorted(registry.backend_secrets(mesh.name, spec)):
        found = lookup(mesh.name, name)
        h.update(f"\0{name}\0{found.spec.get('data') if found else '-'}".encode())
    try:
        lifetime = dp_lifetime(spec)
    except ValueError:  # a bad duration: static validation reports it; issue with the default
        lifetime = dp_lifetime({})
    return MeshView(mesh.name, str(enabled), str(spec.get("type", "")), spec,
                    tuple(str(b.get("name", "")) for b in backends), h.hexdigest(), lifetime)


def dataplane_tags(dp: Resource) -> dict[str, list[str]]:
    """Union of tags over networking.inbound[] (and a gateway's tags)."""
    net = dp.spec.get("networking") or {}
    tags: dict[str, set[str]] = {}
    sources = [i.get("tags") for i in net.get("inbound") or [] if isinstance(i, dict)]
    if isinstance(net.get("gateway"), dict):
        sources.append(net["gateway"].get("tags"))
    for t in sources:
        for k, v in (t or {}).items():
            tags.setdefault(str(k), set()).add(str(v))
    return {k: sorted(v) for k, v in sorted(tags.items())}
