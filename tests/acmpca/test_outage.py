"""An outage of the endpoint: moto is stopped and started again on the same
port. Meanwhile errors are retryable and name the unreachable endpoint; after
the restart moto is empty, so the configured CA is reported missing (not
retryable: only a config change helps) until the mesh names the new CA."""
from __future__ import annotations

import pytest

from common.errors import BackendError
from common.x509util import Identity, verify_chain

from .conftest import MESH, acmpca_spec, secret_auth

IDENT = Identity(MESH, "dp", {"kuma.io/service": ["pay"]})


async def test_outage_restart_and_the_missing_ca(acm_restartable, creds, make_backend):
    server = acm_restartable
    first = server.setup_ca()
    creds()
    backend = make_backend(acmpca_spec(first.arn, auth=secret_auth()), server.endpoint)
    before = await backend.issue(IDENT, 600)

    server.stop()
    with pytest.raises(BackendError) as err:
        await backend.issue(IDENT, 600)
    assert err.value.retryable is True
    assert err.value.message.startswith(f"ACM PCA endpoint {server.endpoint} is unreachable: ")
    assert "Connection refused" in err.value.message

    server.start()  # same port, empty
    for _ in range(2):  # reported the same way until the config changes
        with pytest.raises(BackendError) as err:
            await backend.issue(IDENT, 600)
        assert err.value.retryable is False
        assert err.value.message.startswith(f"ResourceNotFoundException: Resource {first.arn} not found (ACM PCA ")
        assert err.value.causes[0].field == "mtls.backends[acmpca-1].conf.arn"

    second = server.setup_ca()  # what the operator (here, the fixture) does: a new CA, a new ARN
    assert second.arn != first.arn
    updated = make_backend(acmpca_spec(second.arn, auth=secret_auth()), server.endpoint)
    after = await updated.issue(IDENT, 600)
    verify_chain(after.cert_pem, [second.root_pem])
    verify_chain(before.cert_pem, [first.root_pem])  # certificates issued before stay valid under the old root
