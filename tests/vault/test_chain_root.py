"""A Vault PKI whose chain stops at an intermediate (set-signed without the
root): global's test issue rejects it, and a zone holding such a certificate
reports it in its DataplaneInsight."""
from __future__ import annotations

import hvac

from common.ca.base import BackendContext
from common.errors import ValidationError
from common.resources import Resource
from common.x509util import Identity
from global_cp.mtls_check import prepare_mesh
from mzsim.setup.vault import setup_vault
from zone_cp.issuance.state import ProxyState

from .conftest import ROOT_TOKEN, token_auth, unique, vault_spec


def intermediate_only_pki(address: str, mesh: str) -> tuple[str, str]:
    """(pki, role): an intermediate signed by a root PKI, set-signed without the root."""
    root = setup_vault(address, ROOT_TOKEN, mesh, pki=unique("root"), key_type="ec")
    pki = unique("pki")
    client = hvac.Client(url=address, token=ROOT_TOKEN)
    try:
        client.sys.enable_secrets_engine("pki", path=pki, config={"max_lease_ttl": "87600h"})
        csr = client.adapter.post(f"/v1/{pki}/intermediate/generate/internal",
                                  json={"common_name": f"Mesh {mesh} intermediate"})["data"]["csr"]
        signed = client.adapter.post(f"/v1/{root.pki}/root/sign-intermediate",
                                     json={"csr": csr, "format": "pem", "ttl": "8760h"})["data"]["certificate"]
        client.adapter.post(f"/v1/{pki}/intermediate/set-signed", json={"certificate": signed})
        client.adapter.post(f"/v1/{pki}/roles/r", json={"allow_any_name": True, "allowed_uri_sans": "*",
                                                        "require_cn": False, "key_type": "ec", "max_ttl": "720h"})
    finally:
        client.adapter.close()
    return pki, "r"


async def test_intermediate_only_chain_is_rejected_and_reported(bao, secrets, make_backend, mesh_name):
    pki, role = intermediate_only_pki(bao.address, mesh_name)
    secrets.put(mesh_name, "vault-token", ROOT_TOKEN)
    spec = vault_spec(bao.address, pki, role, auth=token_auth())
    mesh = Resource("Mesh", mesh_name, None, {"mtls": {"enabledBackend": "vault-1", "backends": [spec]}})
    ctx = BackendContext(secret_lookup=secrets.lookup, environment="global")
    try:
        await prepare_mesh(mesh, None, ctx)
        raise AssertionError("an intermediate-only chain was accepted")
    except ValidationError as e:
        (v,) = e.causes
        assert v.field == "mtls.backends[0]"
        assert "not self-signed" in v.message and "intermediate/set-signed" in v.message
        assert f"Mesh {mesh_name} intermediate" in v.message

    # A zone (which has no say) issues, and reports the condition.
    cert = await make_backend(mesh_name, spec).issue(Identity(mesh_name, "dp", {"kuma.io/service": ["web"]}), 600)
    proxy = ProxyState(mesh_name, "dp", {}, "", cert=cert)
    assert proxy.insight_spec(("vault-1",))["mTLS"]["warnings"] == [cert.chain_problem]


async def test_chain_with_its_root_has_no_warning(bao, pki, secrets, make_backend, mesh_name):
    secrets.put(mesh_name, "vault-token", pki.token)
    cert = await make_backend(mesh_name, vault_spec(bao.address, pki.pki, pki.role, auth=token_auth())).issue(
        Identity(mesh_name, "dp", {"kuma.io/service": ["web"]}), 600)
    assert cert.chain_problem == ""
    assert "warnings" not in ProxyState(mesh_name, "dp", {}, "", cert=cert).insight_spec(("vault-1",))["mTLS"]
