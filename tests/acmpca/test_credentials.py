"""Where the AWS credentials come from: mesh secrets, files, inline values, or
the default chain (environment variables); and the endpoint from the standard
AWS variables. The launcher's request log shows the access key id each request
was signed with."""
from __future__ import annotations

import pytest

from common.errors import BackendError
from common.x509util import Identity

from .conftest import MESH, acmpca_spec, secret_auth

IDENT = Identity(MESH, "dp", {"kuma.io/service": ["db"]})


def signed_with(acm) -> set[str]:
    return {e["access_key"] for e in acm.requests() if e["target"]}


async def test_keys_from_secrets_and_a_changed_secret(acm, ca, creds, make_backend):
    creds("AKIAFROMSECRETAAAAAA")
    backend = make_backend(acmpca_spec(ca.arn, auth=secret_auth()), acm.endpoint)
    acm.clear_requests()
    await backend.issue(IDENT, 600)
    assert signed_with(acm) == {"AKIAFROMSECRETAAAAAA"}
    creds("AKIAROTATEDBBBBBBBBB")  # a new key in the secret is used without rebuilding the backend
    acm.clear_requests()
    await backend.issue(IDENT, 600)
    assert signed_with(acm) == {"AKIAROTATEDBBBBBBBBB"}


async def test_keys_from_files_and_inline(acm, ca, make_backend, tmp_path):
    (tmp_path / "access").write_text("AKIAFROMFILECCCCCCCC\n")
    auth = {"awsCredentials": {"accessKey": {"file": str(tmp_path / "access")},
                               "accessKeySecret": {"inlineString": "from-inline"}}}
    backend = make_backend(acmpca_spec(ca.arn, auth=auth), acm.endpoint)
    acm.clear_requests()
    await backend.issue(IDENT, 600)
    assert signed_with(acm) == {"AKIAFROMFILECCCCCCCC"}


async def test_default_chain_and_standard_endpoint_variables(acm, ca, make_backend, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVDDDDDDDDD")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-env")
    monkeypatch.setenv("AWS_ENDPOINT_URL_ACM_PCA", acm.endpoint)  # no endpoint in the settings
    backend = make_backend(acmpca_spec(ca.arn), None)
    acm.clear_requests()
    await backend.issue(IDENT, 600)
    assert signed_with(acm) == {"AKIAFROMENVDDDDDDDDD"}
    assert backend.endpoint == acm.endpoint


async def test_no_credentials_anywhere(acm, ca, make_backend):
    backend = make_backend(acmpca_spec(ca.arn), acm.endpoint)
    with pytest.raises(BackendError) as err:
        await backend.issue(IDENT, 600)
    assert err.value.retryable is False
    assert err.value.message.startswith("no usable AWS credentials: Unable to locate credentials; set "
                                        "mtls.backends[acmpca-1].conf.auth")


async def test_missing_secret_names_the_field(acm, ca, make_backend):
    from common.errors import DataSourceError

    backend = make_backend(acmpca_spec(ca.arn, auth=secret_auth()), acm.endpoint)
    with pytest.raises(DataSourceError) as err:
        await backend.issue(IDENT, 600)
    assert err.value.field == "mtls.backends[acmpca-1].conf.auth.awsCredentials.accessKey.secret"
