"""A Vault outage: the server stops and comes back on the same port with its
storage. Issuance fails with a retryable error meanwhile and recovers on the
same backend object; certificates issued before stay valid."""
from __future__ import annotations

import pytest

from common.errors import BackendError
from common.x509util import Identity, verify_chain
from mzsim.setup.vault import setup_vault
from mzsim.waiting import async_wait_until

from .conftest import token_auth, vault_spec


async def test_outage_and_recovery_without_rebuilding(bao_raft, make_backend, secrets, mesh_name):
    result = setup_vault(bao_raft.address, bao_raft.root_token, mesh_name, key_type="ec")
    secrets.put(mesh_name, "vault-token", result.token)
    backend = make_backend(mesh_name, vault_spec(bao_raft.address, result.pki, result.role, auth=token_auth()))
    ident = Identity(mesh_name, "dp", {"kuma.io/service": ["web"]})
    before = await backend.issue(ident, 3600)

    bao_raft.stop()
    with pytest.raises(BackendError) as err:
        await backend.issue(ident, 3600)
    assert err.value.message.startswith(f"vault at {bao_raft.address} could not be reached: ")
    assert err.value.retryable is True
    verify_chain(before.cert_pem, before.ca_pems)  # existing certificates are untouched

    bao_raft.start()  # same port, same raft storage, auto-unsealed by the static seal

    async def issued():
        try:
            return await backend.issue(ident, 3600)
        except BackendError as e:
            assert e.retryable, e.message  # while starting up: sealed/standby/unreachable, all retryable
            return None

    after = await async_wait_until(issued, timeout=20, interval=0.1, what="issuance after restart")
    roots = await backend.root_certs()
    assert roots == [result.root_pem]  # the PKI survived the restart
    verify_chain(after.cert_pem, roots)
    verify_chain(before.cert_pem, roots)
