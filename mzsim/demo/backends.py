"""What the demo needs per backend type: local servers to start, the mesh and
secrets to apply, and environment for global and zones. builtin needs nothing
external; vault runs OpenBao, acmpca runs `mzsim acmpca serve` (moto), and
certmanager runs the local Kubernetes API and the issuer controller."""
from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from mzsim.extras import needs
from mzsim.launcher import Proc
from mzsim.waiting import free_port, wait_port, wait_until


class DemoError(Exception):
    pass


@dataclass
class Plan:
    mesh: str
    backend_type: str
    describe: str
    mesh_doc: dict | None = None  # None: a builtin mesh
    secrets: dict[str, str] = field(default_factory=dict)  # name -> value
    env: dict[str, str] = field(default_factory=dict)  # for global and zones
    needs_kubernetes: bool = False
    kubeconfig: str = ""
    global_args: list[str] = field(default_factory=list)

    def resources(self, lifetime: str) -> list[tuple[str, dict]]:
        """(path, body) to PUT on global, in order: the mesh first (secrets need it)."""
        doc = self.mesh_doc or {"type": "Mesh", "name": self.mesh, "mtls": {
            "enabledBackend": "builtin-1", "backends": [{"name": "builtin-1", "type": "builtin"}]}}
        for b in doc["mtls"]["backends"]:
            b["dpCert"] = {"rotation": {"expiration": lifetime}}
        out = []
        if self.secrets:
            out.append((f"/meshes/{self.mesh}", {"type": "Mesh", "name": self.mesh}))
        for name, value in self.secrets.items():
            out.append((f"/meshes/{self.mesh}/secrets/{name}", {
                "type": "Secret", "mesh": self.mesh, "name": name,
                "data": base64.b64encode(value.encode()).decode()}))
        out.append((f"/meshes/{self.mesh}", doc))
        return out


def _start(demo, name: str, args: list[str], port: int, program: str | None = None) -> Proc:
    proc = Proc(args, os.path.join(demo.dir, f"{name}.log"), program=program)
    demo.started.append(_Owned(proc))
    proc.start()
    try:
        wait_port(port, timeout=30)
    except Exception:
        raise DemoError(f"{name} did not start; see {proc.log_path}") from None
    return proc


class _Owned:
    """Adapts a bare Proc to the demo's list of things to stop."""

    def __init__(self, proc: Proc):
        self.proc = proc


def _builtin(demo) -> Plan:
    return Plan("default", "builtin", "builtin CA: global creates it on apply and syncs it to zones")


def _vault(demo) -> Plan:
    from mzsim.services.openbao import DEV_ROOT_TOKEN, bao_binary, dev_server_args
    from mzsim.setup.vault import setup_vault

    port = free_port()
    address = f"http://127.0.0.1:{port}"
    try:
        program = bao_binary()
    except FileNotFoundError as e:
        raise DemoError(f"the vault demo needs {e}") from None
    _start(demo, "openbao", dev_server_args(port), port, program=program)
    result = setup_vault(address, DEV_ROOT_TOKEN, "vault-demo", key_type="ec")
    doc = result.mesh_doc(token_secret="vault-token")
    return Plan("vault-demo", "vault", f"OpenBao dev server at {address}, PKI {result.pki}, role {result.role}",
                mesh_doc=doc, secrets={"vault-token": result.token})


def _acmpca(demo) -> Plan:
    from mzsim.setup.acmpca import setup_acmpca

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    _start(demo, "acmpca", ["acmpca", "serve", "--port", str(port)], port)
    env = {"AWS_ENDPOINT_URL_ACM_PCA": endpoint, "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo",
           "AWS_REGION": "us-east-1"}
    result = setup_acmpca(endpoint, "us-east-1", access_key="demo", secret_key="demo")
    return Plan("acmpca-demo", "acmpca", f"ACM PCA (moto, `mzsim acmpca serve`) at {endpoint}, CA {result.arn}",
                mesh_doc=result.mesh_doc("acmpca-demo"), env=env)


def _certmanager(demo) -> Plan:
    from mzsim.setup.certmanager import setup_certmanager

    port = free_port()
    kubeconfig = os.path.join(demo.dir, "kubeconfig.yaml")
    _start(demo, "kube-api", ["kube-api", "--port", str(port), "--kubeconfig-out", kubeconfig], port)
    # The port opens before kube-api has written the kubeconfig (its CA and token): wait for the file.
    wait_until(lambda: os.path.exists(kubeconfig), 30, what="kube-api's kubeconfig")
    controller = Proc(["certmanager-controller", "--kubeconfig", kubeconfig],
                      os.path.join(demo.dir, "certmanager-controller.log"))
    demo.started.append(_Owned(controller))
    controller.start()
    result = asyncio.run(asyncio.wait_for(setup_certmanager(kubeconfig), 60))
    return Plan("certmanager-demo", "certmanager",
                f"local Kubernetes API at https://127.0.0.1:{port} + cert-manager CA issuer controller, "
                f"{result.kind} {result.issuer} in {result.namespace} (watch the requests: kubectl --kubeconfig "
                f"{kubeconfig} -n {result.namespace} get certificaterequests -w)",
                mesh_doc=result.mesh_doc("certmanager-demo"), needs_kubernetes=True, kubeconfig=kubeconfig,
                global_args=["--kubeconfig", kubeconfig])


PREPARERS: dict[str, Callable] = {"builtin": _builtin, "vault": _vault, "acmpca": _acmpca,
                                  "certmanager": _certmanager}


def prepare(backend_type: str, demo) -> Plan:
    fn = PREPARERS.get(backend_type)
    if fn is None:
        raise DemoError(f"unknown backend {backend_type!r}; choose from {', '.join(PREPARERS)}")
    with needs("backends,services", f"the demo's {backend_type} backend"):
        return fn(demo)
