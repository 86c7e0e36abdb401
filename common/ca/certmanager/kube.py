"""A lightkube client from a kubeconfig file, in-cluster config, or URL + token,
and the cert-manager resource types. lightkube works the same against a real
cluster and against `mzsim kube-api`."""
from __future__ import annotations

import logging
import os

import httpx2
from lightkube import AsyncClient, KubeConfig
from lightkube.generic_resource import create_global_resource, create_namespaced_resource

CertificateRequest = create_namespaced_resource("cert-manager.io", "v1", "CertificateRequest",
                                                "certificaterequests")
Issuer = create_namespaced_resource("cert-manager.io", "v1", "Issuer", "issuers")
ClusterIssuer = create_global_resource("cert-manager.io", "v1", "ClusterIssuer", "clusterissuers")

IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"

# lightkube's HTTP client logs every request at INFO: one line per watch event
# and status patch would drown the zone's and the controller's own logs.
logging.getLogger("httpx2").setLevel(logging.WARNING)


class KubeConfigError(Exception):
    pass


def load_config(kubeconfig: str | None = None, url: str | None = None, token: str | None = None) -> KubeConfig:
    if kubeconfig:
        if not os.path.exists(kubeconfig):
            raise KubeConfigError(f"kubeconfig {kubeconfig} does not exist; pass --kubeconfig with a readable file")
        return KubeConfig.from_file(kubeconfig)
    if url:
        return KubeConfig.from_dict({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": url}}],
            "users": [{"name": "u", "user": {"token": token or ""}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]})
    if os.path.exists(IN_CLUSTER_TOKEN):
        return KubeConfig.from_service_account()
    env = os.environ.get("KUBECONFIG")
    if env and os.path.exists(env):
        return KubeConfig.from_file(env)
    raise KubeConfigError("no Kubernetes configuration: pass --kubeconfig, run in a cluster, or set KUBECONFIG")


def make_client(kubeconfig: str | None = None, url: str | None = None, token: str | None = None,
                timeout: float = 10.0) -> AsyncClient:
    return AsyncClient(load_config(kubeconfig, url, token), timeout=httpx2.Timeout(timeout))
