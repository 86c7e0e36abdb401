"""The certmanager backend against mzsim's Kubernetes API and issuer controller,
through lightkube, as it would run against a real cluster."""
from __future__ import annotations

import asyncio

import pytest
from lightkube.models.meta_v1 import ObjectMeta

from common.ca.base import BackendContext
from common.ca.certmanager import CertManagerBackend
from common.errors import BackendError
from common.kubeclient import CertificateRequest, Issuer
from common.x509util import Identity, load_certs, uri_sans_of, verify_chain

from .conftest import NAMESPACE, UNAPPROVED_NS

WEB = Identity("default", "web-1", {"kuma.io/service": ["web"], "version": ["v2"]})


def backend(kube, issuer_ref: dict, *, namespace: str = NAMESPACE, wait: float = 10.0,
            environment: str = "kubernetes") -> CertManagerBackend:
    ctx = BackendContext(environment=environment, kubeconfig=kube.kubeconfig, system_namespace=namespace,
                         settings={"certmanager": {"wait_seconds": wait}})
    return CertManagerBackend("default", {"name": "cm-1", "type": "certmanager", "conf": {"issuerRef": issuer_ref}},
                              ctx)


async def leftover_requests(kube, namespace: str = NAMESPACE) -> list:
    client = kube.client()
    try:
        return [o async for o in client.list(CertificateRequest, namespace=namespace,
                                             labels={"mzsim.io/backend": "cm-1"})]
    finally:
        await client.close()


async def test_certificates_chain_to_the_issuer_ca_with_exact_sans_and_requests_are_deleted(kube):
    b = backend(kube, {"name": "my-ca-issuer", "kind": "Issuer", "group": "cert-manager.io"})
    try:
        for _ in range(5):
            cert = await b.issue(WEB, 3600)
            chain = verify_chain(cert.cert_pem, [kube.setup.root_pem])
            assert sorted(uri_sans_of(chain[0])) == sorted([
                "spiffe://default/web", "kuma://kuma.io/service/web", "kuma://version/v2"])
            assert load_certs(cert.ca_pems[0])[0] == load_certs(kube.setup.root_pem)[0]
            lifetime = (cert.not_after - cert.not_before).total_seconds()
            assert 3600 <= lifetime <= 3600 + 120  # requested duration (+ backdating)
        assert await leftover_requests(kube) == []
        assert await b.root_certs() == cert.ca_pems
    finally:
        await b.close()


async def test_issuer_ref_defaults_apply(kube):
    """Only issuerRef.name is set: the created request says kind Issuer, group cert-manager.io."""
    seen = []
    client = kube.client()

    async def record():
        async for etype, obj in client.watch(CertificateRequest, namespace=NAMESPACE,
                                             labels={"mzsim.io/dataplane": "defaults-probe"}):
            if etype == "ADDED":
                seen.append(obj.spec["issuerRef"])
                return

    watcher = asyncio.create_task(record())
    await asyncio.sleep(0.2)  # let the watch open; the assertion below does not depend on timing
    b = backend(kube, {"name": "my-ca-issuer"})
    try:
        await b.issue(Identity("default", "defaults-probe", {"kuma.io/service": ["x"]}), 600)
        await asyncio.wait_for(watcher, 10)
    finally:
        await b.close()
        await client.close()
    assert seen == [{"name": "my-ca-issuer", "kind": "Issuer", "group": "cert-manager.io"}]


async def test_a_denied_request_is_a_clear_error_and_recovers_once_allowed(kube):
    client = kube.client()
    from lightkube.types import PatchType

    await client.patch(Issuer, "my-ca-issuer", {"metadata": {"annotations": {"mzsim.io/deny": "policy says no"}}},
                       namespace=NAMESPACE, patch_type=PatchType.MERGE)
    b = backend(kube, {"name": "my-ca-issuer"})
    try:
        with pytest.raises(BackendError, match="Denied: policy says no") as err:
            await b.issue(WEB, 600)
        assert err.value.retryable is False
        await client.patch(Issuer, "my-ca-issuer", {"metadata": {"annotations": {"mzsim.io/deny": None}}},
                           namespace=NAMESPACE, patch_type=PatchType.MERGE)
        await b.issue(WEB, 600)
        assert await leftover_requests(kube) == []
    finally:
        await b.close()
        await client.close()


async def test_a_missing_issuer_stays_pending_with_a_message_then_recovers(kube):
    b = backend(kube, {"name": "late-issuer"}, wait=2)
    client = kube.client()
    try:
        with pytest.raises(BackendError, match='not issued within 2s.*Referenced "Issuer" not found') as err:
            await b.issue(WEB, 600)
        assert err.value.retryable is True
        await client.create(Issuer(metadata=ObjectMeta(name="late-issuer", namespace=NAMESPACE),
                                   spec={"ca": {"secretName": kube.setup.secret}}))
        cert = await b.issue(WEB, 600)
        verify_chain(cert.cert_pem, [kube.setup.root_pem])
    finally:
        await b.close()
        await client.close()


async def test_an_unapproved_request_times_out_clearly_then_an_approver_fixes_it(kube):
    kube.start_controller(UNAPPROVED_NS, approve=False)
    b = backend(kube, {"name": "my-ca-issuer"}, namespace=UNAPPROVED_NS, wait=2)
    try:
        with pytest.raises(BackendError, match="not approved; is cert-manager's approver"):
            await b.issue(WEB, 600)
        assert await leftover_requests(kube, UNAPPROVED_NS) == []
        kube.start_controller(UNAPPROVED_NS, approve=True)
        b.wait_seconds = 10
        cert = await b.issue(WEB, 600)
        assert uri_sans_of(cert.leaf)
    finally:
        await b.close()


async def test_a_universal_zone_refuses_certmanager(kube):
    b = backend(kube, {"name": "my-ca-issuer"}, environment="universal")
    with pytest.raises(BackendError, match="only in Kubernetes zones") as err:
        await b.issue(WEB, 600)
    assert err.value.retryable is False
