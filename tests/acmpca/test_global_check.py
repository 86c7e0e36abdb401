"""Global's test issue (global_cp/mtls_check.prepare_mesh) rejects an acmpca
mesh whose CA does not exist or is DISABLED, quoting AWS, and accepts a good one."""
from __future__ import annotations

import pytest

from common.ca.acmpca import AcmpcaSettings
from common.ca.base import BackendContext
from common.ca.settings import BackendSettings
from common.errors import MzsimError
from common.resources import Resource

from .conftest import FAST, MESH, acmpca_spec, secret_auth
from .test_errors import missing_arn, pca

mtls_check = pytest.importorskip("global_cp.mtls_check", reason="global's test issue is not built yet")


def mesh(spec: dict) -> Resource:
    return Resource("Mesh", MESH, None, {"mtls": {"enabledBackend": spec["name"], "backends": [spec]}})


def context(acm, secrets) -> BackendContext:
    return BackendContext(secret_lookup=secrets.lookup, environment="global",
                          settings=BackendSettings(acmpca=AcmpcaSettings(**FAST, endpoint_url=acm.endpoint)))


async def rejection(acm, secrets, spec: dict) -> str:
    with pytest.raises(MzsimError) as err:
        await mtls_check.prepare_mesh(mesh(spec), None, context(acm, secrets))
    return str(err.value)


async def test_good_acmpca_mesh_is_accepted(acm, ca, creds, secrets):
    creds()
    await mtls_check.prepare_mesh(mesh(acmpca_spec(ca.arn, auth=secret_auth())), None, context(acm, secrets))


async def test_missing_ca_is_rejected_quoting_aws(acm, ca, creds, secrets):
    creds()
    arn = missing_arn(ca.arn)
    assert f"ResourceNotFoundException: Resource {arn} not found" in await rejection(
        acm, secrets, acmpca_spec(arn, auth=secret_auth()))


async def test_disabled_ca_is_rejected(acm, creds, secrets):
    fresh = acm.setup_ca()
    pca(acm).update_certificate_authority(CertificateAuthorityArn=fresh.arn, Status="DISABLED")
    creds()
    assert f"certificate authority {fresh.arn} is DISABLED, not ACTIVE" in await rejection(
        acm, secrets, acmpca_spec(fresh.arn, auth=secret_auth()))


async def test_aws_region_that_disagrees_with_the_arn_is_a_warning(acm, ca, creds, secrets, monkeypatch, caplog):
    creds()
    region = ca.arn.split(":")[3]
    other = "eu-west-1" if region != "eu-west-1" else "us-west-2"
    monkeypatch.setenv("AWS_REGION", other)
    warnings: list[str] = []
    spec = acmpca_spec(ca.arn, auth=secret_auth())
    await mtls_check.prepare_mesh(mesh(spec), None, context(acm, secrets), warnings=warnings)
    assert warnings == [f'mtls.backends[0] ({spec["name"]}): AWS_REGION is "{other}", but the CA\'s ARN names '
                        f'region "{region}": calls go to "{region}" (the region of conf.arn), and AWS_REGION '
                        "is ignored"]
    assert f'AWS_REGION is "{other}"' in caplog.text  # logged where the client is built
    monkeypatch.setenv("AWS_REGION", region)
    warnings.clear()
    await mtls_check.prepare_mesh(mesh(spec), None, context(acm, secrets), warnings=warnings)
    assert warnings == []
