"""Token lifecycle: renewal while issuing, expiry with a clear error, a new
token picked up from the secret without a restart, nothing left after close."""
from __future__ import annotations

import asyncio
import logging
import time

import pytest
import requests

from common.errors import BackendError
from common.x509util import Identity
from mzsim.waiting import async_wait_until

from .conftest import ROOT_TOKEN, token_auth, vault_spec

EXPIRED = "vault token expired and cannot be renewed: "


def ident(mesh: str) -> Identity:
    return Identity(mesh, "dp", {"kuma.io/service": ["web"]})


def create_token(bao, policy: str, **body) -> str:
    resp = requests.post(f"{bao.address}/v1/auth/token/create", headers={"X-Vault-Token": ROOT_TOKEN},
                         json={"policies": [policy], **body}, timeout=10)
    resp.raise_for_status()
    return resp.json()["auth"]["client_token"]


def lookup(bao, token: str) -> dict:
    resp = requests.post(f"{bao.address}/v1/auth/token/lookup", headers={"X-Vault-Token": ROOT_TOKEN},
                         json={"token": token}, timeout=10)
    resp.raise_for_status()
    return resp.json()["data"]


def renewals(metrics, mesh: str) -> int:
    return metrics.histogram("mzsim_backend_request_seconds", "").count(
        backend_type="vault", mesh=mesh, backend="vault-1", operation="renew", outcome="ok")


async def test_renewable_token_is_renewed_while_issuing(bao, pki, make_backend, secrets, metrics, mesh_name):
    token = create_token(bao, pki.policy, ttl="2s", renewable=True)
    secrets.put(mesh_name, "vault-token", token)
    backend = make_backend(mesh_name, vault_spec(bao.address, pki.pki, pki.role, auth=token_auth()))
    start = time.monotonic()
    await backend.issue(ident(mesh_name), 600)
    issued = 1
    # Keep issuing (paced, not timed) until the token has outlived its first TTL twice over.
    while time.monotonic() - start < 4.5:
        await backend.issue(ident(mesh_name), 600)
        issued += 1
        await asyncio.sleep(0.2)
    assert renewals(metrics, mesh_name) >= 2
    assert lookup(bao, token)["ttl"] > 0  # still alive, well past its original 2s
    assert issued > 10


async def test_non_renewable_token_expires_with_a_clear_error(bao, pki, make_backend, secrets, mesh_name):
    token = create_token(bao, pki.policy, ttl="2s", renewable=False)
    secrets.put(mesh_name, "vault-token", token)
    backend = make_backend(mesh_name, vault_spec(bao.address, pki.pki, pki.role, auth=token_auth()))
    await backend.issue(ident(mesh_name), 600)
    await async_wait_until(lambda: backend.token_ttl_remaining() <= 0, timeout=10, what="token expiry")
    with pytest.raises(BackendError) as err:
        await backend.issue(ident(mesh_name), 600)
    assert err.value.message == (EXPIRED + 'the token is not renewable; put a new token in secret "vault-token"')
    assert err.value.retryable is False
    assert err.value.causes[0].field == "mtls.backends[vault-1].conf.fromCp.auth.token"

    # A new token in the same secret is used at once: no new backend, no restart.
    secrets.put(mesh_name, "vault-token", create_token(bao, pki.policy, ttl="1h"))
    await backend.issue(ident(mesh_name), 600)
    assert backend.token_ttl_remaining() > 3500


async def test_renewals_capped_by_max_ttl_end_in_vaults_warning(bao, pki, make_backend, secrets, mesh_name):
    token = create_token(bao, pki.policy, ttl="2s", explicit_max_ttl="4s", renewable=True)
    secrets.put(mesh_name, "vault-token", token)
    backend = make_backend(mesh_name, vault_spec(bao.address, pki.pki, pki.role, auth=token_auth()))
    await backend.issue(ident(mesh_name), 600)
    await async_wait_until(lambda: backend.token_ttl_remaining() <= 0, timeout=10, what="token expiry")
    with pytest.raises(BackendError) as err:
        await backend.issue(ident(mesh_name), 600)
    assert err.value.message.startswith(EXPIRED)
    # Vault's own warning ('... exceeded the effective max_ttl ...'), or the explicit_max_ttl it reported.
    assert "max_ttl" in err.value.message


async def test_changed_token_secret_is_picked_up(bao, pki, make_backend, secrets, mesh_name):
    first = create_token(bao, pki.policy, ttl="1h")
    secrets.put(mesh_name, "vault-token", first)
    backend = make_backend(mesh_name, vault_spec(bao.address, pki.pki, pki.role, auth=token_auth()))
    await backend.issue(ident(mesh_name), 600)
    requests.post(f"{bao.address}/v1/auth/token/revoke", headers={"X-Vault-Token": ROOT_TOKEN},
                  json={"token": first}, timeout=10).raise_for_status()
    with pytest.raises(BackendError, match="permission denied"):
        await backend.issue(ident(mesh_name), 600)
    secrets.put(mesh_name, "vault-token", create_token(bao, pki.policy, ttl="1h"))
    await backend.issue(ident(mesh_name), 600)


async def test_close_stops_renewal_quietly(bao, pki, make_backend, secrets, mesh_name, caplog):
    token = create_token(bao, pki.policy, ttl="2s", renewable=False)
    secrets.put(mesh_name, "vault-token", token)
    backend = make_backend(mesh_name, vault_spec(bao.address, pki.pki, pki.role, auth=token_auth()))
    await backend.issue(ident(mesh_name), 600)
    renewer = backend._renewer
    assert renewer is not None and not renewer.done()
    caplog.set_level(logging.DEBUG, logger="mzsim.ca.vault")
    await backend.close()  # the mesh was removed
    assert renewer.done()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    with pytest.raises(BackendError, match="is closed"):
        await backend.issue(ident(mesh_name), 600)
