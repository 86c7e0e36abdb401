"""Vault's own errors reach the user verbatim, marked retryable or not."""
from __future__ import annotations

import pytest

from common.errors import BackendError, DataSourceError
from common.validation import validate_backend_conf
from common.x509util import Identity
from mzsim.setup.vault import setup_vault
from mzsim.waiting import free_port

from .conftest import ROOT_TOKEN, token_auth, unique, vault_spec


def ident(mesh: str) -> Identity:
    return Identity(mesh, "dp", {"kuma.io/service": ["web"]})


async def test_bad_token_is_permission_denied(bao, pki, make_backend, secrets, mesh_name):
    secrets.put(mesh_name, "vault-token", "s.not-a-real-token")
    backend = make_backend(mesh_name, vault_spec(bao.address, pki.pki, pki.role, auth=token_auth()))
    with pytest.raises(BackendError) as err:
        await backend.issue(ident(mesh_name), 600)
    assert err.value.message.startswith("permission denied (vault POST /v1/")
    assert f"/{pki.pki}/issue/{pki.role}" in err.value.message
    assert err.value.retryable is False
    assert "s.not-a-real-token" not in str(err.value)


async def test_role_that_disallows_the_uri_sans(bao, make_backend, secrets, mesh_name):
    result = setup_vault(bao.address, ROOT_TOKEN, mesh_name, pki=unique("pki"), key_type="ec",
                         allowed_uri_sans="spiffe://another-mesh/*")
    secrets.put(mesh_name, "vault-token", result.token)
    backend = make_backend(mesh_name, vault_spec(bao.address, result.pki, result.role, auth=token_auth()))
    with pytest.raises(BackendError) as err:
        await backend.issue(ident(mesh_name), 600)
    # OpenBao's wording; Vault says "URI Subject Alternative Names are not allowed in this role".
    assert "URI Subject Alternative Names were provided via the API which are not valid for this role" \
        in err.value.message
    assert err.value.retryable is False


async def test_unreachable_address(make_backend, secrets, mesh_name):
    secrets.put(mesh_name, "vault-token", "s.whatever")
    address = f"http://127.0.0.1:{free_port()}"
    backend = make_backend(mesh_name, vault_spec(address, "kmesh-pki-x", "dataplane-proxies", auth=token_auth()))
    with pytest.raises(BackendError) as err:
        await backend.issue(ident(mesh_name), 600)
    assert err.value.message.startswith(f"vault at {address} could not be reached: ")
    assert "Connection refused" in err.value.message
    assert err.value.retryable is True
    assert err.value.causes[0].field == "mtls.backends[vault-1].conf.fromCp.address"


async def test_unknown_pki_mount_quotes_vault(bao, pki, make_backend, secrets, mesh_name):
    secrets.put(mesh_name, "vault-token", ROOT_TOKEN)
    backend = make_backend(mesh_name, vault_spec(bao.address, "no-such-pki", pki.role, auth=token_auth()))
    with pytest.raises(BackendError) as err:
        await backend.issue(ident(mesh_name), 600)
    assert 'no handler for route "no-such-pki/issue/' in err.value.message
    assert err.value.retryable is False


async def test_unknown_role_quotes_vault(bao, pki, make_backend, secrets, mesh_name):
    secrets.put(mesh_name, "vault-token", ROOT_TOKEN)
    backend = make_backend(mesh_name, vault_spec(bao.address, pki.pki, "no-such-role", auth=token_auth()))
    with pytest.raises(BackendError) as err:
        await backend.issue(ident(mesh_name), 600)
    assert err.value.message.startswith("unknown role: no-such-role")


async def test_missing_token_secret_names_the_field(bao, pki, make_backend, mesh_name):
    backend = make_backend(mesh_name, vault_spec(bao.address, pki.pki, pki.role, auth=token_auth("absent")))
    with pytest.raises(DataSourceError) as err:
        await backend.issue(ident(mesh_name), 600)
    assert err.value.field == "mtls.backends[vault-1].conf.fromCp.auth.token.secret"
    assert 'secret "absent" not found' in str(err.value)


async def test_no_auth_configured(bao, pki, make_backend, mesh_name):
    backend = make_backend(mesh_name, vault_spec(bao.address, pki.pki, pki.role, auth={}))
    with pytest.raises(BackendError) as err:
        await backend.issue(ident(mesh_name), 600)
    assert "set one of auth.token, auth.tls or auth.aws, or agentAddress" in err.value.message


def test_conf_rules_come_from_the_type():
    good = {"fromCp": {"address": "https://vault:8200", "pki": "kmesh-pki-default", "role": "dataplane-proxies",
                       "auth": {"aws": None}}}
    assert not validate_backend_conf("vault", good, "mtls.backends[0].conf")
    bad = {"fromCp": {"address": "https://vault:8200", "role": "dataplane-proxies"}}
    fields = {v.field for v in validate_backend_conf("vault", bad, "mtls.backends[0].conf")}
    assert "mtls.backends[0].conf.fromCp.pki" in fields
    assert "mtls.backends[0].conf.fromCp.auth" in fields
