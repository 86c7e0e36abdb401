"""A scenario's CA backends at run time: OpenBao for vault, `mzsim acmpca serve`
for acmpca, and the local Kubernetes API with the issuer controller for
certmanager. Each is started on free ports, set up with the seed documents'
steps (mzsim/setup/), and reached by global and the zones through its own
FaultProxy, so a scenario can slow or cut the zone<->backend link. The values
resources use as ${NAME.FIELD} point at that proxy.

Every call here blocks (it waits for ports, or talks HTTP): the cluster runs
them in threads."""
from __future__ import annotations

import asyncio
import base64
import os
import re
import signal

import requests
import yaml

from mzsim.launcher import Proc
from mzsim.waiting import free_port, wait_port, wait_until

from .model import BackendSpec
from .proxy import FaultProxy

AWS_ENV = {"AWS_ACCESS_KEY_ID": "scenario", "AWS_SECRET_ACCESS_KEY": "scenario", "AWS_REGION": "us-east-1"}
ROOT = "root"  # the dev server's root token: the runner's own, never offered to resources
CALL_TIMEOUT = 5.0


class BackendError(Exception):
    pass


class Backend:
    """One backend: its processes, its proxy, and the values it offers."""

    def __init__(self, spec: BackendSpec, workdir: str):
        self.spec = spec
        self.workdir = workdir
        self.port = free_port()
        self.proxy = FaultProxy(spec.name, "127.0.0.1", self.port, free_port())
        self.procs: dict[str, Proc] = {}
        self.values: dict[str, str] = {}
        self.env: dict[str, str] = {}  # for global and every zone
        self.global_args: list[str] = []
        self.kubeconfig = ""  # certmanager: through the proxy, for global and zones
        self.direct_kubeconfig = ""
        self.approving = True

    @property
    def direct(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def via_proxy(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    # -- processes ---------------------------------------------------------------
    def _args(self, name: str) -> tuple[list[str], str | None]:
        t = self.spec.type
        if t == "vault":
            from mzsim.services.openbao import bao_binary, dev_server_args
            return dev_server_args(self.port, ROOT), bao_binary()
        if t == "acmpca":
            return ["acmpca", "serve", "--port", str(self.port)], None
        if name == self.spec.name:
            return ["kube-api", "--port", str(self.port), "--kubeconfig-out", self.direct_kubeconfig,
                    "--data", os.path.join(self.workdir, f"{self.spec.name}-store.json"),
                    "--token-file", os.path.join(self.workdir, f"{self.spec.name}-token"),
                    # the same CA across a stop/start, so the kubeconfigs stay valid
                    "--tls-dir", os.path.join(self.workdir, f"{self.spec.name}-tls")], None
        args = ["certmanager-controller", "--kubeconfig", self.direct_kubeconfig]
        return args + ([] if self.approving else ["--no-approve"]), None

    def start_process(self, name: str) -> None:
        args, program = self._args(name)
        proc = Proc(args, os.path.join(self.workdir, f"{name}.log"), program=program,
                    cwd=self.workdir if program else None)
        self.procs[name] = proc.start()
        if name == self.spec.name:
            try:
                wait_port(self.port, timeout=30)
            except Exception:  # noqa: BLE001 - reported with the log
                raise BackendError(f"{name} did not start listening on :{self.port}; see {proc.log_path}") from None
        if self.spec.type == "vault":
            wait_until(lambda: self._bao_health() in (200, 503), 20, interval=0.05, what=f"{name} healthy")

    def up(self, say) -> None:
        t = self.spec.type
        if t == "certmanager":
            self.direct_kubeconfig = os.path.join(self.workdir, f"{self.spec.name}-kubeconfig-direct.yaml")
        for name in self.spec.processes:
            self.start_process(name)
        say(f"backend {self.spec.name} ({t}) listening on :{self.port}, reached through proxy :{self.proxy.port}")
        getattr(self, f"_setup_{t}")(say)

    def _setup_vault(self, say) -> None:
        from mzsim.setup.vault import setup_vault
        s = self.spec
        result = setup_vault(self.direct, ROOT, s.mesh, key_type=s.key_type, token_ttl=s.token_ttl or None,
                             token_renewable=s.token_renewable, progress=lambda m: say(f"{s.name}: {m}"))
        self.values = {"address": self.via_proxy, "pki": result.pki, "role": result.role}
        self._set_token(result.token)
        self.policy = result.policy

    def _set_token(self, token: str) -> None:
        self.values["token"] = token
        self.values["token_b64"] = base64.b64encode(token.encode()).decode()

    def _setup_acmpca(self, say) -> None:
        from mzsim.setup.acmpca import setup_acmpca
        result = setup_acmpca(self.direct, "us-east-1", access_key=AWS_ENV["AWS_ACCESS_KEY_ID"],
                              secret_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
                              progress=lambda m: say(f"{self.spec.name}: {m}"))
        self.values = {"endpoint": self.via_proxy, "arn": result.arn}
        self.env = {"AWS_ENDPOINT_URL_ACM_PCA": self.via_proxy, **AWS_ENV}

    def _setup_certmanager(self, say) -> None:
        from mzsim.setup.certmanager import setup_certmanager
        wait_until(lambda: os.path.exists(self.direct_kubeconfig), 20, what="the kubeconfig written")
        result = asyncio.run(setup_certmanager(self.direct_kubeconfig,
                                               progress=lambda m: say(f"{self.spec.name}: {m}")))
        with open(self.direct_kubeconfig) as f:
            doc = yaml.safe_load(f)
        for c in doc.get("clusters") or []:
            # kube-api serves HTTPS with its own CA (certificate-authority-data); only the port changes
            scheme = c["cluster"]["server"].split("://", 1)[0]
            c["cluster"]["server"] = f"{scheme}://127.0.0.1:{self.proxy.port}"
        self.kubeconfig = os.path.join(self.workdir, f"{self.spec.name}-kubeconfig.yaml")
        fd = os.open(self.kubeconfig, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds a token
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(doc, f)
        self.values = {"issuer": result.issuer, "kind": result.kind, "namespace": result.namespace}
        self.global_args = ["--kubeconfig", self.kubeconfig]

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.alive()

    def signal(self, name: str, sig: int) -> None:
        proc = self.procs[name]
        if proc.popen is not None and proc.alive():
            os.killpg(proc.popen.pid, sig)

    def stop_all(self) -> list[str]:
        for name in self.procs:
            self.signal(name, signal.SIGCONT)  # a paused process cannot act on SIGTERM
            self.procs[name].stop()
        return [p.log_path for p in self.procs.values() if p.alive()]

    # -- vault faults ------------------------------------------------------------
    def _bao(self, method: str, path: str, body: dict | None = None, token: str = ROOT) -> requests.Response:
        return requests.request(method, f"{self.direct}/v1/{path}", json=body, headers={"X-Vault-Token": token},
                                timeout=CALL_TIMEOUT)

    def _bao_health(self) -> int:
        try:
            return requests.get(f"{self.direct}/v1/sys/health", timeout=1).status_code
        except requests.RequestException:
            return 0

    def vault(self, action: str) -> str:
        if action == "seal":
            self._check(self._bao("PUT", "sys/seal"), "seal")
            return "sealed: every request now answers 503"
        if action == "unseal":
            key = self._unseal_key()
            self._check(self._bao("PUT", "sys/unseal", {"key": key}), "unseal")
            wait_until(lambda: self._bao_health() == 200, 10, interval=0.05, what="vault unsealed")
            return "unsealed"
        if action == "revoke-token":
            self._check(self._bao("POST", "auth/token/revoke", {"token": self.values["token"]}), "revoke the token")
            return "the backend's token is revoked: issuing answers 403"
        body = {"policies": [self.policy], "renewable": True}
        resp = self._bao("POST", "auth/token/create", body)
        self._check(resp, "create a token")
        self._set_token(resp.json()["auth"]["client_token"])
        return "a new token created (its secret is applied again)"

    def _unseal_key(self) -> str:
        with open(self.procs[self.spec.name].log_path, errors="replace") as f:
            m = re.search(r"Unseal Key: (\S+)", f.read(256 * 1024))  # printed at start-up
        if m is None:
            raise BackendError(f"{self.spec.name}: the dev server's log names no unseal key")
        return m.group(1)

    @staticmethod
    def _check(resp: requests.Response, what: str) -> None:
        if resp.status_code >= 300:
            raise BackendError(f"vault did not {what}: HTTP {resp.status_code}: {resp.text[:200]}")

    # -- acmpca faults -----------------------------------------------------------
    def acmpca(self, action: str, target: str, count: int, status: int | None) -> str:
        if action == "clear":
            resp = requests.delete(f"{self.direct}/_faults", timeout=CALL_TIMEOUT)
            return f"faults cleared (HTTP {resp.status_code})"
        code = "ThrottlingException" if action == "throttle" else "InternalFailure"
        fault: dict = {"target": target, "code": code, "count": count}
        if status:
            fault["status"] = status
        resp = requests.post(f"{self.direct}/_faults", json=fault, timeout=CALL_TIMEOUT)
        if resp.status_code != 200:
            raise BackendError(f"acmpca refused the fault: HTTP {resp.status_code}: {resp.text[:200]}")
        return f"the next {count} {target} calls answer {code}"

    # -- certmanager faults ------------------------------------------------------
    def certmanager(self, action: str, reason: str) -> str:
        if action in ("deny", "allow"):
            asyncio.run(self._annotate(reason if action == "deny" else None))
            return (f"the issuer's requests are denied: {reason}" if action == "deny"
                    else "the issuer's requests are approved again")
        name = f"{self.spec.name}-controller"
        self.approving = action == "approve"
        if self.alive(name):
            self.procs[name].stop()
        self.start_process(name)
        return "controller restarted " + ("approving" if self.approving else "without approving (--no-approve)")

    async def _annotate(self, reason: str | None) -> None:
        from common.ca.certmanager.kube import Issuer, make_client
        from mzsim.services.certmanager_controller import DENY_ANNOTATION
        client = make_client(self.direct_kubeconfig)
        try:
            await client.patch(Issuer, self.values["issuer"], {"metadata": {"annotations": {DENY_ANNOTATION: reason}}},
                               namespace=self.values["namespace"])
        finally:
            await client.close()
