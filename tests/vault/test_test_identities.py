"""Global test-issues with identities shaped like the zones' ones: a Vault role
with hostname checks (the guide's allowed_domains=mesh) that refuses a
Kubernetes-style service name is refused on global, not later in every
Kubernetes zone."""
from __future__ import annotations

import base64

from common.ca.base import BackendContext
from common.errors import ValidationError
from common.resources import Resource
from global_cp.mtls_check import (
    KUBERNETES_TEST_SERVICE,
    MAX_REPORTED_SERVICES,
    TEST_SERVICE,
    prepare_mesh,
    reported_services,
    services_to_test,
)
from mzsim.launcher import Global, Zone, wait_connected

from .conftest import token_auth, vault_spec

CN = '{{ tag "kuma.io/service" }}.mesh'


def test_one_service_per_environment_then_a_few_reported_ones():
    assert services_to_test([], []) == [TEST_SERVICE]
    assert services_to_test(["universal", "universal"], []) == [TEST_SERVICE]
    reported = [f"svc-{i}" for i in range(10)] + [TEST_SERVICE]
    assert services_to_test(["kubernetes", "universal"], reported) == [
        KUBERNETES_TEST_SERVICE, TEST_SERVICE, *[f"svc-{i}" for i in range(MAX_REPORTED_SERVICES)]]
    dps = [Resource("Dataplane", "a", "m", {"networking": {"inbound": [{"tags": {"kuma.io/service": "web"}}]}}),
           Resource("Dataplane", "b", "m", {"networking": {"gateway": {"tags": {"kuma.io/service": "gw"}}}}),
           Resource("Dataplane", "c", "m", {"networking": {"inbound": ["junk", {"tags": None}]}})]
    assert reported_services(dps) == {"web", "gw"}


async def test_a_kubernetes_shaped_name_the_role_refuses_is_a_400_quoting_vault(bao, pki, secrets, mesh_name):
    secrets.put(mesh_name, "vault-token", pki.token)
    spec = vault_spec(bao.address, pki.pki, pki.role, auth=token_auth(), commonName=CN)
    mesh = Resource("Mesh", mesh_name, None, {"mtls": {"enabledBackend": "vault-1", "backends": [spec]}})
    ctx = BackendContext(secret_lookup=secrets.lookup, environment="global")
    await prepare_mesh(mesh, None, ctx, services=services_to_test(["universal"], []))  # today's identity passes
    try:
        await prepare_mesh(mesh, None, ctx, services=services_to_test(["universal", "kubernetes"], []))
        raise AssertionError("a role refusing Kubernetes service names was accepted")
    except ValidationError as e:
        (v,) = e.causes
    assert v.field == "mtls.backends[0]"
    assert v.message.startswith(f'could not issue a test certificate from backend "vault-1" for service '
                                f'"{KUBERNETES_TEST_SERVICE}": ')
    assert f"{KUBERNETES_TEST_SERVICE}.mesh" in v.message and "not allowed" in v.message  # Vault's words


def test_global_uses_the_connected_zones_environments(cluster, pki):
    g = cluster.add(Global(cluster.dir))
    universal = cluster.add(Zone(cluster.dir, "zone-u", g, extra_args=["--dataplanes", "1", "--mesh", pki.mesh]))
    wait_connected(universal)
    assert g.put(f"/meshes/{pki.mesh}", {"type": "Mesh", "name": pki.mesh})[0] == 201
    secret = {"type": "Secret", "mesh": pki.mesh, "name": "vault-token",
              "data": base64.b64encode(pki.token.encode()).decode()}
    assert g.put(f"/meshes/{pki.mesh}/secrets/vault-token", secret)[0] == 201
    doc = pki.mesh_doc(token_secret="vault-token", expiration="1h", common_name=CN)
    status, body = g.put(f"/meshes/{pki.mesh}", doc)
    assert status == 200, body  # universal zones only: the role is fine
    wait_connected(cluster.add(Zone(cluster.dir, "zone-k", g, extra_args=["--dataplanes", "1", "--mesh", pki.mesh],
                                    env={"MZSIM_ENVIRONMENT": "kubernetes"})))
    doc["mtls"]["backends"][0]["dpCert"]["rotation"]["expiration"] = "2h"  # a changed backend is tested again
    status, body = g.put(f"/meshes/{pki.mesh}", doc)
    assert status == 400, body
    (cause,) = body["causes"]
    assert cause["field"] == "mtls.backends[0]"
    assert f'for service "{KUBERNETES_TEST_SERVICE}"' in cause["message"] and "not allowed" in cause["message"]
