"""mzsim's Kubernetes API answers lightkube as a real API server would."""
from __future__ import annotations

import asyncio

import pytest
from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from common.kubeclient import CertificateRequest, load_config, make_client

from .conftest import KubeEnv

NS = "api-tests"


def cr(prefix: str, labels: dict) -> CertificateRequest:
    return CertificateRequest(metadata={"generateName": prefix, "namespace": NS, "labels": labels},
                              spec={"request": "", "issuerRef": {"name": "none"}})


async def test_create_with_generate_name_sets_identity_fields(kube):
    client = kube.client()
    try:
        a = await client.create(cr("probe-", {"app": "a"}), namespace=NS)
        b = await client.create(cr("probe-", {"app": "a"}), namespace=NS)
        assert a.metadata.name.startswith("probe-") and a.metadata.name != b.metadata.name
        assert a.metadata.uid and a.metadata.creationTimestamp
        assert int(b.metadata.resourceVersion) > int(a.metadata.resourceVersion)
        with pytest.raises(ApiError) as err:
            await client.create(CertificateRequest(metadata={"name": a.metadata.name, "namespace": NS}, spec={}),
                                namespace=NS)
        assert err.value.status.code == 409 and err.value.status.reason == "AlreadyExists"
        with pytest.raises(ApiError) as err:
            await client.get(CertificateRequest, "absent", namespace=NS)
        assert err.value.status.code == 404
    finally:
        await client.close()


async def test_label_selectors(kube):
    client = kube.client()
    try:
        await client.create(cr("sel-", {"tier": "web", "env": "prod"}), namespace=NS)
        await client.create(cr("sel-", {"tier": "db", "env": "prod"}), namespace=NS)
        web = [o async for o in client.list(CertificateRequest, namespace=NS, labels={"tier": "web"})]
        assert [o.metadata.labels["tier"] for o in web] == ["web"]
        from lightkube import operators

        not_web = [o async for o in client.list(CertificateRequest, namespace=NS,
                                                labels={"env": "prod", "tier": operators.not_equal("web")})]
        assert {o.metadata.labels["tier"] for o in not_web} == {"db"}
    finally:
        await client.close()


async def test_watch_resumes_from_a_resource_version_and_sees_status_patches_and_deletes(kube):
    client = kube.client()
    try:
        obj = await client.create(cr("watch-", {"w": "1"}), namespace=NS)
        rv = obj.metadata.resourceVersion
        patched = await client.patch(CertificateRequest.Status, obj.metadata.name,
                                     {"status": {"conditions": [{"type": "Ready", "status": "False"}]}},
                                     namespace=NS, patch_type=PatchType.MERGE)
        assert patched.status["conditions"][0]["type"] == "Ready"
        assert patched.spec == obj.spec  # a status patch leaves spec alone
        await client.delete(CertificateRequest, obj.metadata.name, namespace=NS)
        events = []
        async for etype, o in client.watch(CertificateRequest, namespace=NS, resource_version=rv,
                                           fields={"metadata.name": obj.metadata.name}):
            events.append((etype, (o.status or {}).get("conditions")))
            if etype == "DELETED":
                break
        assert [e[0] for e in events] == ["MODIFIED", "DELETED"]  # resumed after the create
    finally:
        await client.close()


async def test_replace_with_a_stale_resource_version_conflicts(kube):
    client = kube.client()
    try:
        s = await client.create(Secret(metadata=ObjectMeta(name="conflict", namespace=NS), data={"a": "YQ=="}))
        s.data = {"a": "Yg=="}
        await client.replace(s)
        s.data = {"a": "Yw=="}  # still carries the old resourceVersion
        with pytest.raises(ApiError) as err:
            await client.replace(s)
        assert err.value.status.code == 409 and err.value.status.reason == "Conflict"
    finally:
        await client.close()


async def test_too_old_resource_version_is_gone(tmp_path):
    """A server keeping 3 events: resuming from before them gets 410 Gone, as a real one does."""
    env = KubeEnv(str(tmp_path))
    env.start_api("--history", "3")
    client = env.client()
    try:
        first = await client.create(cr("old-", {}), namespace=NS)
        for _ in range(5):
            await client.create(cr("old-", {}), namespace=NS)
        with pytest.raises(ApiError) as err:
            async for _ in client.watch(CertificateRequest, namespace=NS,
                                        resource_version=first.metadata.resourceVersion):
                pass
        assert err.value.status.code == 410
    finally:
        await client.close()
        env.stop()


async def test_a_client_without_the_token_is_unauthorized(kube):
    cfg = load_config(kubeconfig=kube.kubeconfig)
    client = make_client(url=cfg.clusters[cfg.contexts[cfg.current_context].cluster].server, token="wrong")
    try:
        with pytest.raises(ApiError) as err:
            await client.get(Secret, "x", namespace=NS)
        assert err.value.status.code == 401
    finally:
        await client.close()
    await asyncio.sleep(0)
