"""Global's test issue (global_cp/mtls_check.prepare_mesh) rejects a vault mesh
with Vault's own words, and accepts a good one."""
from __future__ import annotations

import pytest

from common.ca.base import BackendContext
from common.errors import MzsimError
from common.resources import Resource
from mzsim.setup.vault import setup_vault
from mzsim.waiting import free_port

from .conftest import ROOT_TOKEN, token_auth, unique, vault_spec

mtls_check = pytest.importorskip("global_cp.mtls_check", reason="global's test issue is not built yet")


def mesh(name: str, spec: dict) -> Resource:
    return Resource("Mesh", name, None, {"mtls": {"enabledBackend": spec["name"], "backends": [spec]}})


async def rejection(res: Resource, secrets) -> str:
    ctx = BackendContext(secret_lookup=secrets.lookup, environment="global")
    with pytest.raises(MzsimError) as err:
        await mtls_check.prepare_mesh(res, None, ctx)
    return str(err.value)


async def test_good_vault_mesh_is_accepted(bao, pki, secrets, mesh_name):
    secrets.put(mesh_name, "vault-token", pki.token)
    ctx = BackendContext(secret_lookup=secrets.lookup, environment="global")
    await mtls_check.prepare_mesh(mesh(mesh_name, vault_spec(bao.address, pki.pki, pki.role, auth=token_auth())),
                                  None, ctx)


async def test_bad_token_is_rejected_quoting_vault(bao, pki, secrets, mesh_name):
    secrets.put(mesh_name, "vault-token", "s.bad")
    spec = vault_spec(bao.address, pki.pki, pki.role, auth=token_auth())
    assert "permission denied" in await rejection(mesh(mesh_name, spec), secrets)


async def test_role_disallowing_the_sans_is_rejected_quoting_vault(bao, secrets, mesh_name):
    result = setup_vault(bao.address, ROOT_TOKEN, mesh_name, pki=unique("pki"), key_type="ec",
                         allowed_uri_sans="spiffe://elsewhere/*")
    secrets.put(mesh_name, "vault-token", result.token)
    spec = vault_spec(bao.address, result.pki, result.role, auth=token_auth())
    assert "URI Subject Alternative Names" in await rejection(mesh(mesh_name, spec), secrets)


async def test_unreachable_vault_is_rejected(secrets, mesh_name):
    secrets.put(mesh_name, "vault-token", "s.any")
    address = f"http://127.0.0.1:{free_port()}"
    spec = vault_spec(address, "kmesh-pki-x", "dataplane-proxies", auth=token_auth())
    assert f"vault at {address} could not be reached" in await rejection(mesh(mesh_name, spec), secrets)
