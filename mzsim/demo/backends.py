"""What the demo needs per backend type: external services to start, the mesh
and secrets to apply, and zone settings. builtin needs nothing external."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


class DemoError(Exception):
    pass


@dataclass
class Plan:
    mesh: str
    backend_type: str
    describe: str
    mesh_conf: dict = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # name -> value
    zone_env: dict[str, str] = field(default_factory=dict)
    needs_kubernetes: bool = False
    kubeconfig: str = ""

    def resources(self, lifetime: str) -> list[tuple[str, dict]]:
        import base64

        out = [(f"/meshes/{self.mesh}", {"type": "Mesh", "name": self.mesh})] if self.secrets else []
        for name, value in self.secrets.items():
            out.append((f"/meshes/{self.mesh}/secrets/{name}", {
                "type": "Secret", "mesh": self.mesh, "name": name,
                "data": base64.b64encode(value.encode()).decode()}))
        backend = {"name": f"{self.backend_type}-1", "type": self.backend_type,
                   "dpCert": {"rotation": {"expiration": lifetime}}}
        if self.mesh_conf:
            backend["conf"] = self.mesh_conf
        out.append((f"/meshes/{self.mesh}", {"type": "Mesh", "name": self.mesh, "mtls": {
            "enabledBackend": backend["name"], "backends": [backend]}}))
        return out


def _builtin(demo) -> Plan:
    return Plan("default", "builtin", "builtin CA: global creates it on apply and syncs it to zones")


PREPARERS: dict[str, Callable] = {"builtin": _builtin}


def prepare(backend_type: str, demo) -> Plan:
    fn = PREPARERS.get(backend_type)
    if fn is None:
        raise DemoError(f"unknown backend {backend_type!r}; choose from {', '.join(PREPARERS)}")
    return fn(demo)
