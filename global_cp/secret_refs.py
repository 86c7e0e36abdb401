"""Which meshes' backends refer to a secret (so deleting it can be refused)."""
from __future__ import annotations

from common.resources import Resource


def _walk(node, name: str) -> bool:
    if isinstance(node, dict):
        if node.get("secret") == name:
            return True
        return any(_walk(v, name) for v in node.values())
    if isinstance(node, list):
        return any(_walk(v, name) for v in node)
    return False


def meshes_using_secret(meshes: list[Resource], mesh: str, secret: str) -> list[str]:
    users = []
    for m in meshes:
        if m.name != mesh:
            continue
        for i, b in enumerate((m.spec.get("mtls") or {}).get("backends") or []):
            if _walk(b.get("conf") or {}, secret):
                users.append(f"mesh {m.name} backend {b.get('name', i)!r}")
    return users
