"""`mzsim certmanager setup`: the namespace, a CA secret and the Issuer
`my-ca-issuer` (spec.ca.secretName), as in the seed. Shared by the demo,
the tests and users."""
from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret

from common.ca.certmanager.kube import ClusterIssuer, Issuer, make_client
from common.x509util import cert_to_pem, key_to_pem, make_ca

DEFAULT_NAMESPACE = "kong-mesh-system"
DEFAULT_ISSUER = "my-ca-issuer"


@dataclass
class SetupResult:
    namespace: str
    issuer: str
    kind: str
    secret: str
    root_pem: str

    def mesh_doc(self, mesh: str = "default", *, backend: str = "certmanager-1", expiration: str = "24h") -> dict:
        return {"type": "Mesh", "name": mesh, "mtls": {"enabledBackend": backend, "backends": [{
            "name": backend, "type": "certmanager", "dpCert": {"rotation": {"expiration": expiration}},
            "conf": {"issuerRef": {"name": self.issuer, "kind": self.kind, "group": "cert-manager.io"}}}]}}


async def _create_unless_exists(client: AsyncClient, obj: Any) -> bool:
    """Create `obj`; False if it already exists (409), which setup keeps."""
    try:
        await client.create(obj)
    except ApiError as e:
        if e.status.code != 409:
            raise
        return False
    return True


async def setup_certmanager(kubeconfig: str, *, namespace: str = DEFAULT_NAMESPACE, issuer: str = DEFAULT_ISSUER,
                            cluster_issuer: bool = False, key_type: str = "ec",
                            progress: Callable[[str], None] | None = None) -> SetupResult:
    """Idempotent: existing objects are replaced by fresh ones only where missing."""
    say = progress or (lambda _m: None)
    client = make_client(kubeconfig)
    secret_name = f"{issuer}-ca"
    try:
        if await _create_unless_exists(client, Namespace(metadata=ObjectMeta(name=namespace))):
            say(f"created namespace {namespace}")
        try:
            existing = await client.get(Secret, secret_name, namespace=namespace)
            root_pem = base64.b64decode(existing.data["tls.crt"]).decode()
            say(f"kept CA secret {namespace}/{secret_name}")
        except ApiError as e:
            if e.status.code != 404:
                raise
            cert, key = make_ca(f"mzsim cert-manager CA ({issuer})", key_type=key_type)
            root_pem = cert_to_pem(cert)
            await client.create(Secret(metadata=ObjectMeta(name=secret_name, namespace=namespace),
                                       type="kubernetes.io/tls",
                                       data={"tls.crt": base64.b64encode(root_pem.encode()).decode(),
                                             "tls.key": base64.b64encode(key_to_pem(key).encode()).decode()}))
            say(f"created CA secret {namespace}/{secret_name}")
        res = ClusterIssuer if cluster_issuer else Issuer
        md = {"name": issuer} if cluster_issuer else {"name": issuer, "namespace": namespace}
        created = await _create_unless_exists(client, res(metadata=md, spec={"ca": {"secretName": secret_name}}))
        say(f"{'created' if created else 'kept'} {'ClusterIssuer' if cluster_issuer else 'Issuer'} {issuer}")
    finally:
        await client.close()
    return SetupResult(namespace, issuer, "ClusterIssuer" if cluster_issuer else "Issuer", secret_name, root_pem)
