"""Real processes: mzsim's Kubernetes API and cert-manager controllers."""
from __future__ import annotations

import asyncio
import os

import pytest

from common.ca.certmanager.kube import make_client
from mzsim.launcher import Proc
from mzsim.setup.certmanager import setup_certmanager
from mzsim.waiting import free_port, wait_port, wait_until

NAMESPACE = "kong-mesh-system"
UNAPPROVED_NS = "no-approver"


class KubeEnv:
    def __init__(self, workdir: str):
        self.workdir = workdir
        self.port = free_port()
        self.kubeconfig = os.path.join(workdir, "kubeconfig.yaml")
        self.procs: list[Proc] = []

    def start_api(self, *extra: str) -> None:
        if os.path.exists(self.kubeconfig):  # a restart writes a new token: wait for that one
            os.remove(self.kubeconfig)
        p = Proc(["kube-api", "--port", str(self.port), "--kubeconfig-out", self.kubeconfig, *extra],
                 os.path.join(self.workdir, "kube-api.log")).start()
        self.procs.append(p)
        wait_port(self.port)
        wait_until(lambda: os.path.exists(self.kubeconfig), 10)

    def start_controller(self, namespace: str = NAMESPACE, *, approve: bool = True) -> Proc:
        args = ["certmanager-controller", "--kubeconfig", self.kubeconfig, "--namespace", namespace]
        if not approve:
            args.append("--no-approve")
        p = Proc(args, os.path.join(self.workdir, f"controller-{namespace}-{len(self.procs)}.log")).start()
        self.procs.append(p)
        wait_until(lambda: "ready" in p.log(), 10, what="controller ready")
        return p

    def client(self):
        return make_client(self.kubeconfig)

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()


@pytest.fixture(scope="session")
def kube(tmp_path_factory):
    env = KubeEnv(str(tmp_path_factory.mktemp("kube")))
    env.start_api()
    env.start_controller(NAMESPACE)
    env.setup = asyncio.run(setup_certmanager(env.kubeconfig, namespace=NAMESPACE))
    env.setup_unapproved = asyncio.run(setup_certmanager(env.kubeconfig, namespace=UNAPPROVED_NS))
    yield env
    env.stop()
