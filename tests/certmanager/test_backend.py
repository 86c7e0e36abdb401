"""The certmanager backend against mzsim's Kubernetes API and issuer controller,
through lightkube, as it would run against a real cluster."""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging

import pytest
from cryptography import x509
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from common.ca import registry
from common.ca.base import BackendContext
from common.ca.certmanager import CertmanagerSettings
from common.ca.certmanager.backend import CertManagerBackend, outcome
from common.ca.certmanager.kube import CertificateRequest, ClusterIssuer, Issuer
from common.ca.settings import BackendSettings
from common.errors import BackendError
from common.metrics import Registry
from common.x509util import Identity, cert_to_pem, load_certs, make_ca, sign_csr, uri_sans_of, verify_chain
from mzsim.setup.certmanager import setup_certmanager
from mzsim.waiting import async_wait_until

from .conftest import NAMESPACE, UNAPPROVED_NS, KubeEnv

WEB = Identity("default", "web-1", {"kuma.io/service": ["web"], "version": ["v2"]})


def backend(kube, issuer_ref: dict, *, namespace: str = NAMESPACE, wait: float = 10.0,
            environment: str = "kubernetes", metrics=None, **conf) -> CertManagerBackend:
    ctx = BackendContext(environment=environment, kubeconfig=kube.kubeconfig, system_namespace=namespace,
                         settings=BackendSettings(certmanager=CertmanagerSettings(wait_seconds=wait)), metrics=metrics)
    return CertManagerBackend("default", {"name": "cm-1", "type": "certmanager",
                                          "conf": {"issuerRef": issuer_ref, **conf}}, ctx)


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
        serials = set()
        for _ in range(5):
            cert = await b.issue(WEB, 3600)
            chain = verify_chain(cert.cert_pem, [kube.setup.root_pem])
            assert sorted(uri_sans_of(chain[0])) == sorted([
                "spiffe://default/web", "kuma://kuma.io/service/web", "kuma://version/v2"])
            assert load_certs(cert.ca_pems[0])[0] == load_certs(kube.setup.root_pem)[0]
            lifetime = (cert.not_after - cert.not_before).total_seconds()
            assert 3600 <= lifetime <= 3600 + 120  # the requested duration (+ backdating)
            serials.add(cert.serial_hex)
        assert len(serials) == 5
        assert await leftover_requests(kube) == []
        assert await b.root_certs() == cert.ca_pems
    finally:
        await b.close()


async def test_issuer_ref_defaults_apply_and_names_and_labels_are_made_valid(kube):
    """Only issuerRef.name is set: the created request says kind Issuer, group
    cert-manager.io. An awkward dataplane name still makes a valid request (the
    API server refuses invalid names and labels, as a real one does)."""
    client = kube.client()
    awkward = Identity("Default_Mesh", "Web_Frontend.V2-" + "x" * 80, {"kuma.io/service": ["web"]})
    listing = client.list(CertificateRequest, namespace=NAMESPACE)
    _ = [o async for o in listing]
    seen = []

    async def record():  # from before the create, so the ADDED event cannot be missed
        async for etype, obj in client.watch(CertificateRequest, namespace=NAMESPACE,
                                             resource_version=listing.resourceVersion):
            if etype == "ADDED":
                seen.append(obj)
                return

    watcher = asyncio.create_task(record())
    b = backend(kube, {"name": "my-ca-issuer"}, dnsNames=["web.example.internal"])
    try:
        cert = await b.issue(awkward, 600)
        await asyncio.wait_for(watcher, 10)
    finally:
        watcher.cancel()
        await b.close()
        await client.close()
    created = seen[0]
    assert created.spec["issuerRef"] == {"name": "my-ca-issuer", "kind": "Issuer", "group": "cert-manager.io"}
    assert created.spec["usages"] == ["digital signature", "key encipherment", "server auth", "client auth"]
    assert created.spec["isCA"] is False and created.spec["duration"] == "600s"
    assert created.metadata.name.startswith("default-mesh-web-frontend-v2-x")
    assert created.metadata.labels["kuma.io/mesh"] == "Default_Mesh"
    assert len(created.metadata.labels["mzsim.io/dataplane"]) == 63
    sans = cert.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["web.example.internal"]
    assert "spiffe://Default_Mesh/web" in sans.get_values_for_type(x509.UniformResourceIdentifier)


async def test_a_cluster_issuer_signs_with_the_ca_in_the_cluster_resource_namespace(kube):
    setup = await setup_certmanager(kube.kubeconfig, namespace=NAMESPACE, issuer="cluster-ca", cluster_issuer=True)
    b = backend(kube, {"name": "cluster-ca", "kind": "ClusterIssuer"})
    client = kube.client()
    try:
        cert = await b.issue(WEB, 600)
        verify_chain(cert.cert_pem, [setup.root_pem])

        async def ready():  # the controller keeps the issuer's own Ready condition, as cert-manager does
            conds = ((await client.get(ClusterIssuer, "cluster-ca")).status or {}).get("conditions") or []
            return [(c["type"], c["status"], c["reason"]) for c in conds] == [("Ready", "True", "KeyPairVerified")]

        await async_wait_until(ready, 10, what="ClusterIssuer Ready")
    finally:
        await b.close()
        await client.close()


async def test_a_denied_request_is_a_clear_error_and_recovers_once_allowed(kube):
    client = kube.client()
    await client.patch(Issuer, "my-ca-issuer", {"metadata": {"annotations": {"mzsim.io/deny": "policy says no"}}},
                       namespace=NAMESPACE, patch_type=PatchType.MERGE)
    b = backend(kube, {"name": "my-ca-issuer"})
    try:
        with pytest.raises(BackendError, match=r"Issuer 'my-ca-issuer': Denied: policy says no$") as err:
            await b.issue(WEB, 600)
        assert err.value.retryable is False
        await client.patch(Issuer, "my-ca-issuer", {"metadata": {"annotations": {"mzsim.io/deny": None}}},
                           namespace=NAMESPACE, patch_type=PatchType.MERGE)
        verify_chain((await b.issue(WEB, 600)).cert_pem, [kube.setup.root_pem])
        assert await leftover_requests(kube) == []
    finally:
        await b.close()
        await client.close()


async def test_an_unparsable_csr_is_an_invalid_request(kube):
    client = kube.client()
    try:
        bad = await client.create(CertificateRequest(
            metadata={"generateName": "garbage-", "namespace": NAMESPACE},
            spec={"request": base64.b64encode(b"not a CSR").decode(), "issuerRef": {"name": "my-ca-issuer"}}))

        async def terminal():
            obj = await client.get(CertificateRequest, bad.metadata.name, namespace=NAMESPACE)
            return outcome(obj)[0] == "failed" and obj

        obj = await async_wait_until(terminal, 10, what="InvalidRequest")
        state, message = outcome(obj)
        assert message.startswith("InvalidRequest: ")
        assert not (obj.status or {}).get("certificate")
        await client.delete(CertificateRequest, bad.metadata.name, namespace=NAMESPACE)
    finally:
        await client.close()


async def test_a_missing_issuer_stays_pending_with_a_message_then_recovers_in_the_same_wait(kube):
    b = backend(kube, {"name": "late-issuer"}, wait=2)
    client = kube.client()
    try:
        with pytest.raises(BackendError, match=r'not issued within 2s.*Pending: Referenced "Issuer" not found: '
                                               r'issuer.cert-manager.io "late-issuer" not found') as err:
            await b.issue(WEB, 600)
        assert err.value.retryable is True
        assert await leftover_requests(kube) == []
        b.wait_seconds = 15
        issuing = asyncio.create_task(b.issue(WEB, 600))

        async def pending():
            return [o for o in await leftover_requests(kube)
                    if "not found" in str((o.status or {}).get("conditions"))]

        await async_wait_until(pending, 10, what="the request pending on the missing issuer")
        await client.create(Issuer(metadata=ObjectMeta(name="late-issuer", namespace=NAMESPACE),
                                   spec={"ca": {"secretName": kube.setup.secret}}))
        cert = await asyncio.wait_for(issuing, 15)  # the controller retried it when the issuer appeared
        verify_chain(cert.cert_pem, [kube.setup.root_pem])
    finally:
        await b.close()
        await client.close()


async def test_an_issuer_without_its_ca_secret_is_not_ready_until_the_secret_exists(kube):
    client = kube.client()
    await client.create(Issuer(metadata=ObjectMeta(name="secretless", namespace=NAMESPACE),
                               spec={"ca": {"secretName": "secretless-ca"}}))
    b = backend(kube, {"name": "secretless"}, wait=2)
    try:
        with pytest.raises(BackendError, match=r"Referenced issuer does not have a Ready status condition "
                                               r'\(Error getting keypair for CA issuer: secrets "secretless-ca"'):
            await b.issue(WEB, 600)
        ca = await client.get(Secret, kube.setup.secret, namespace=NAMESPACE)
        await client.create(Secret(metadata=ObjectMeta(name="secretless-ca", namespace=NAMESPACE), data=ca.data))
        b.wait_seconds = 10
        verify_chain((await b.issue(WEB, 600)).cert_pem, [kube.setup.root_pem])
    finally:
        await b.close()
        await client.close()


async def test_an_unapproved_request_times_out_clearly_then_an_approver_fixes_it(kube):
    metrics = Registry()
    kube.start_controller(UNAPPROVED_NS, approve=False)
    b = backend(kube, {"name": "my-ca-issuer"}, namespace=UNAPPROVED_NS, wait=2, metrics=metrics)
    try:
        with pytest.raises(BackendError, match=r"was not issued within 2s: not approved; is cert-manager's "
                                               r"approver \(or approver-policy\) running\?"):
            await b.issue(WEB, 600)
        assert await leftover_requests(kube, UNAPPROVED_NS) == []
        kube.start_controller(UNAPPROVED_NS, approve=True)
        b.wait_seconds = 10
        cert = await b.issue(WEB, 600)
        verify_chain(cert.cert_pem, [kube.setup_unapproved.root_pem])
    finally:
        await b.close()
    latency = metrics.histogram("mzsim_backend_request_seconds", "")
    labels = dict(backend_type="certmanager", mesh="default", backend="cm-1", operation="issue")
    assert latency.count(**labels, outcome="timeout") == 1 and latency.count(**labels, outcome="ok") == 1
    assert metrics.gauge("mzsim_certmanager_pending_requests", "").value(mesh="default", backend="cm-1") == 0


async def test_an_external_issuer_kind_is_sent_as_given_and_its_answer_used(kube):
    """cert-manager hands requests for another group to that issuer's controller; the test plays it."""
    ref = {"name": "pca", "kind": "AWSPCAClusterIssuer", "group": "awspca.cert-manager.io"}
    b = backend(kube, ref, wait=10)
    client = kube.client()
    ca_cert, ca_key = make_ca("External PCA", key_type="ec")
    try:
        issuing = asyncio.create_task(b.issue(WEB, 600))

        async def request():
            found = [o for o in await leftover_requests(kube) if o.spec["issuerRef"] == ref]
            return found[0] if found else None

        cr = await async_wait_until(request, 10, what="the request for the external issuer")
        leaf = sign_csr(x509.load_pem_x509_csr(base64.b64decode(cr.spec["request"])), ca_cert, ca_key, 600)
        b64 = lambda pem: base64.b64encode(pem.encode()).decode()  # noqa: E731
        ok = {"status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
        await client.patch(CertificateRequest.Status, cr.metadata.name, {"status": {
            "certificate": b64(cert_to_pem(leaf)), "ca": b64(cert_to_pem(ca_cert)),
            "conditions": [{"type": "Approved", "reason": "test", "message": "", **ok},
                           {"type": "Ready", "reason": "Issued", "message": "", **ok}]}},
            namespace=NAMESPACE, patch_type=PatchType.MERGE)
        cert = await asyncio.wait_for(issuing, 10)
        verify_chain(cert.cert_pem, [cert_to_pem(ca_cert)])
    finally:
        await b.close()
        await client.close()


async def test_a_universal_zone_refuses_certmanager(kube):
    ctx = BackendContext(environment="universal", kubeconfig=kube.kubeconfig)
    spec = {"name": "cm-1", "type": "certmanager", "conf": {"issuerRef": {"name": "my-ca-issuer"}}}
    with pytest.raises(BackendError, match="only in Kubernetes zones.*--environment kubernetes") as err:
        registry.build("default", spec, ctx)
    assert err.value.retryable is False
    for environment in ("kubernetes", "global"):
        await registry.build("default", spec, dataclasses.replace(ctx, environment=environment)).close()


async def test_a_wait_survives_an_api_server_restart_by_polling(tmp_path, caplog):
    """The API server goes away while a request waits (its watch breaks, the
    backend polls), comes back with its data, and the request is issued once a
    controller runs."""
    caplog.set_level(logging.INFO, logger="mzsim.ca.certmanager")
    env = KubeEnv(str(tmp_path))
    api_args = ("--data", str(tmp_path / "objects.json"), "--token-file", str(tmp_path / "token"),
                "--tls-dir", str(tmp_path / "tls"))
    env.start_api(*api_args)
    try:
        setup = await setup_certmanager(env.kubeconfig, namespace=NAMESPACE)
        b = backend(env, {"name": "my-ca-issuer"}, wait=30)
        issuing = asyncio.create_task(b.issue(WEB, 600))
        await async_wait_until(lambda: leftover_requests(env), 10, what="the request created")
        # In threads: the backend's loop must run (and see the API gone) meanwhile.
        await asyncio.to_thread(env.procs[0].stop)
        await async_wait_until(lambda: "polling" in caplog.text, 10, what="the backend polling")
        await asyncio.to_thread(env.start_api, *api_args)  # same port, objects and token
        await asyncio.to_thread(env.start_controller, NAMESPACE)
        cert = await asyncio.wait_for(issuing, 30)
        verify_chain(cert.cert_pem, [setup.root_pem])
        assert await leftover_requests(env) == []
        await b.close()
    finally:
        env.stop()
