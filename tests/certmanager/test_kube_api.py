"""mzsim's Kubernetes API answers lightkube as a real API server would."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import subprocess
import sys

import aiohttp
import pytest
import yaml
from lightkube import ApiError, operators
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Secret
from lightkube.types import PatchType

from common.ca.certmanager.kube import CertificateRequest, load_config, make_client
from mzsim.services import kube_api, kube_proto, kube_schema, kube_store
from mzsim.services.kube_store import strategic_merge_patch

from .conftest import KubeEnv

NS = "api-tests"


def cr(prefix: str, labels: dict, namespace: str = NS) -> CertificateRequest:
    return CertificateRequest(metadata={"generateName": prefix, "namespace": namespace, "labels": labels},
                              spec={"request": "", "issuerRef": {"name": "none"}})


async def ensure_namespace(client) -> None:
    try:
        await client.create(Namespace(metadata=ObjectMeta(name=NS)))
    except ApiError as e:
        if e.status.code != 409:
            raise


@pytest.fixture
async def client(kube):
    c = kube.client()
    await ensure_namespace(c)
    yield c
    await c.close()


def server_and_token(kubeconfig: str) -> tuple[str, str]:
    cfg = load_config(kubeconfig=kubeconfig)
    ctx = cfg.contexts[cfg.current_context]
    return cfg.clusters[ctx.cluster].server, cfg.users[ctx.user].token


def ca_context(kubeconfig: str) -> ssl.SSLContext:
    with open(kubeconfig) as f:
        cluster = yaml.safe_load(f)["clusters"][0]["cluster"]
    return ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())


async def test_create_with_generate_name_sets_identity_fields(client):
    a = await client.create(cr("probe-", {"app": "a"}), namespace=NS)
    b = await client.create(cr("probe-", {"app": "a"}), namespace=NS)
    assert a.metadata.name.startswith("probe-") and len(a.metadata.name) == len("probe-") + 5
    assert a.metadata.name != b.metadata.name
    assert a.metadata.uid and a.metadata.uid != b.metadata.uid and a.metadata.creationTimestamp
    assert int(b.metadata.resourceVersion) > int(a.metadata.resourceVersion)
    with pytest.raises(ApiError) as err:
        await client.create(CertificateRequest(metadata={"name": a.metadata.name, "namespace": NS}, spec={}),
                            namespace=NS)
    assert err.value.status.code == 409 and err.value.status.reason == "AlreadyExists"
    with pytest.raises(ApiError) as err:
        await client.get(CertificateRequest, "absent", namespace=NS)
    assert (err.value.status.code, err.value.status.reason) == (404, "NotFound")


async def test_invalid_names_labels_and_namespaces_are_refused_as_a_real_server_does(client):
    with pytest.raises(ApiError) as err:
        await client.create(cr("Upper_Case-", {}), namespace=NS)
    assert err.value.status.code == 422 and "metadata.name: Invalid value" in err.value.status.message
    with pytest.raises(ApiError) as err:
        await client.create(cr("ok-", {"k": "has space"}), namespace=NS)
    assert err.value.status.code == 422 and "metadata.labels" in err.value.status.message
    with pytest.raises(ApiError) as err:
        await client.create(cr("ok-", {}, "no-such-namespace"), namespace="no-such-namespace")
    assert err.value.status.code == 404 and err.value.status.message == 'namespaces "no-such-namespace" not found'


async def test_label_and_field_selectors(client):
    web = await client.create(cr("sel-", {"tier": "web", "env": "prod"}), namespace=NS)
    await client.create(cr("sel-", {"tier": "db", "env": "prod"}), namespace=NS)
    await client.create(cr("sel-", {"env": "prod"}), namespace=NS)
    got = [o async for o in client.list(CertificateRequest, namespace=NS, labels={"tier": "web"})]
    assert [o.metadata.name for o in got] == [web.metadata.name]
    got = [o async for o in client.list(CertificateRequest, namespace=NS,
                                        labels={"env": "prod", "tier": operators.not_equal("web")})]
    assert sorted((o.metadata.labels or {}).get("tier", "-") for o in got) == ["-", "db"]
    got = [o async for o in client.list(CertificateRequest, namespace=NS,
                                        labels={"env": "prod", "tier": operators.exists()})]
    assert sorted(o.metadata.labels["tier"] for o in got) == ["db", "web"]
    got = [o async for o in client.list(CertificateRequest, namespace=NS,
                                        labels={"tier": operators.in_(["db", "cache"])})]
    assert [o.metadata.labels["tier"] for o in got] == ["db"]
    got = [o async for o in client.list(CertificateRequest, namespace=NS, fields={"metadata.name": web.metadata.name})]
    assert [o.metadata.name for o in got] == [web.metadata.name]


async def test_watch_resumes_from_a_resource_version_and_sees_status_patches_and_deletes(client):
    obj = await client.create(cr("watch-", {"w": "1"}), namespace=NS)
    rv = obj.metadata.resourceVersion
    patched = await client.patch(CertificateRequest.Status, obj.metadata.name,
                                 {"status": {"conditions": [{"type": "Ready", "status": "False"}]},
                                  "spec": {"request": "ignored on the status subresource"}},
                                 namespace=NS, patch_type=PatchType.MERGE)
    assert patched.status["conditions"][0]["type"] == "Ready"
    assert patched.spec == obj.spec
    main = await client.patch(CertificateRequest, obj.metadata.name, {"status": {"ignored": True}},
                              namespace=NS, patch_type=PatchType.MERGE)
    assert main.status == patched.status  # the main resource leaves status alone
    await client.delete(CertificateRequest, obj.metadata.name, namespace=NS)
    events = []
    async for etype, o in client.watch(CertificateRequest, namespace=NS, resource_version=rv,
                                       fields={"metadata.name": obj.metadata.name}):
        events.append((etype, o.metadata.resourceVersion))
        if etype == "DELETED":
            break
    assert [e[0] for e in events] == ["MODIFIED", "MODIFIED", "DELETED"]  # resumed after the create
    assert [int(e[1]) for e in events] == sorted(int(e[1]) for e in events) and int(events[0][1]) > int(rv)


async def test_writes_with_a_stale_resource_version_conflict(client):
    s = await client.create(Secret(metadata=ObjectMeta(name="conflict", namespace=NS), data={"a": "YQ=="}))
    stale_rv = s.metadata.resourceVersion
    s.data = {"a": "Yg=="}
    await client.replace(s)
    s.data = {"a": "Yw=="}  # still carries the old resourceVersion
    with pytest.raises(ApiError) as err:
        await client.replace(s)
    assert err.value.status.code == 409 and err.value.status.reason == "Conflict"
    with pytest.raises(ApiError) as err:
        await client.patch(Secret, "conflict", {"metadata": {"resourceVersion": stale_rv}, "data": {"b": "Yg=="}},
                           namespace=NS, patch_type=PatchType.MERGE)
    assert err.value.status.code == 409
    assert (await client.get(Secret, "conflict", namespace=NS)).data == {"a": "Yg=="}


async def test_json_patch(client):
    s = await client.create(Secret(metadata=ObjectMeta(name="jsonpatch", namespace=NS, labels={"a": "1"}),
                                   data={"x": "eA=="}))
    s = await client.patch(Secret, "jsonpatch", [{"op": "test", "path": "/data/x", "value": "eA=="},
                                                 {"op": "remove", "path": "/metadata/labels/a"},
                                                 {"op": "add", "path": "/data/y", "value": "eQ=="}],
                           namespace=NS, patch_type=PatchType.JSON)
    assert s.data == {"x": "eA==", "y": "eQ=="} and not s.metadata.labels
    with pytest.raises(ApiError) as err:
        await client.patch(Secret, "jsonpatch", [{"op": "test", "path": "/data/x", "value": "other"}],
                           namespace=NS, patch_type=PatchType.JSON)
    assert err.value.status.code == 422


async def test_watch_bookmarks_when_asked_for(kube, client):
    """lightkube does not ask for bookmarks; a raw watch does, and gets one at the end of its timeout."""
    await client.create(cr("bm-", {}), namespace=NS)
    server, token = server_and_token(kube.kubeconfig)
    url = f"{server}/apis/cert-manager.io/v1/namespaces/{NS}/certificaterequests"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"},
                                     connector=aiohttp.TCPConnector(ssl=ca_context(kube.kubeconfig)),
                                     timeout=aiohttp.ClientTimeout(total=10)) as h:
        async with h.get(url) as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        async with h.get(url, params={"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                                      "timeoutSeconds": "1"}) as r:
            text = await r.text()
    events = [json.loads(line) for line in text.splitlines()]
    assert [e["type"] for e in events] == ["BOOKMARK"]
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(rv)


async def test_too_old_resource_version_is_gone_and_objects_persist_across_restarts(tmp_path):
    """A server keeping 3 events: resuming from before them gets 410 Gone, as a real
    one does; with --data its objects and resourceVersions survive a restart, and
    with --token-file and --tls-dir a client made before it carries on."""
    env = KubeEnv(str(tmp_path))
    data, token, tls = str(tmp_path / "objects.json"), str(tmp_path / "token"), str(tmp_path / "tls")
    keep = ("--token-file", token, "--tls-dir", tls)
    env.start_api("--history", "3", "--data", data, *keep)
    client = env.client()
    try:
        await ensure_namespace(client)
        first = await client.create(cr("old-", {}), namespace=NS)
        for _ in range(5):
            last = await client.create(cr("old-", {}), namespace=NS)
        with pytest.raises(ApiError) as err:
            async for _ in client.watch(CertificateRequest, namespace=NS,
                                        resource_version=first.metadata.resourceVersion):
                pass
        assert err.value.status.code == 410
    finally:
        await client.close()
        env.stop()
    for private in (data, token, env.kubeconfig, *(os.path.join(tls, n) for n in os.listdir(tls))):
        assert os.stat(private).st_mode & 0o077 == 0, private  # Secrets, the token, the serving key
    before = make_client(env.kubeconfig)  # from the kubeconfig written before the restart
    env.start_api("--data", data, *keep)
    client = env.client()
    try:
        assert len([o async for o in before.list(CertificateRequest, namespace=NS)]) == 6
        names = [o.metadata.name async for o in client.list(CertificateRequest, namespace=NS)]
        assert len(names) == 6 and last.metadata.name in names
        again = await client.create(cr("old-", {}), namespace=NS)
        assert int(again.metadata.resourceVersion) == int(last.metadata.resourceVersion) + 1
    finally:
        await before.close()
        await client.close()
        env.stop()


async def test_shutdown_does_not_wait_for_open_watches(tmp_path):
    env = KubeEnv(str(tmp_path))
    env.start_api()
    client = env.client()
    seen = asyncio.Event()

    async def watch():
        async for _etype, _obj in client.watch(Namespace):
            seen.set()

    task = asyncio.create_task(watch())
    try:
        await client.create(Namespace(metadata=ObjectMeta(name=NS)))
        await asyncio.wait_for(seen.wait(), 10)  # the watch is open and streaming
        api = env.procs[0]
        api.popen.terminate()
        assert await asyncio.to_thread(api.popen.wait, 5) == 0  # raises if the open watch holds it up
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        env.stop()


async def test_a_client_without_the_token_is_unauthorized(kube, tmp_path):
    with open(kube.kubeconfig) as f:
        cfg = yaml.safe_load(f)
    cfg["users"][0]["user"]["token"] = "wrong"
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump(cfg))
    client = make_client(str(wrong))
    try:
        with pytest.raises(ApiError) as err:
            await client.get(Secret, "x", namespace=NS)
        assert (err.value.status.code, err.value.status.reason) == (401, "Unauthorized")
    finally:
        await client.close()


async def test_https_by_default_with_the_ca_in_the_kubeconfig_and_plain_http_only_when_asked(kube, tmp_path):
    server, token = server_and_token(kube.kubeconfig)
    assert server.startswith("https://127.0.0.1:")
    with open(kube.kubeconfig) as f:
        assert "certificate-authority-data" in yaml.safe_load(f)["clusters"][0]["cluster"]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as h:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):  # not a publicly trusted certificate
            await h.get(f"{server}/version", headers={"Authorization": f"Bearer {token}"})
        with pytest.raises(aiohttp.ClientError):  # plain HTTP on the TLS port
            await h.get(server.replace("https://", "http://") + "/version")
    env = KubeEnv(str(tmp_path))
    env.start_api("--plain-http")
    plain = env.client()
    try:
        plain_server, _ = server_and_token(env.kubeconfig)
        assert plain_server.startswith("http://")
        await ensure_namespace(plain)  # lightkube works over it unchanged
        assert [n.metadata.name async for n in plain.list(Namespace)] == [NS]
    finally:
        await plain.close()
        env.stop()


def test_kube_api_help_names_the_plain_http_flag():
    out = subprocess.run([sys.executable, "-m", "mzsim", "kube-api", "--help"], capture_output=True, text=True,
                         timeout=30).stdout
    assert "--plain-http" in out and "--tls-dir" in out


async def test_yaml_bodies_field_validation_tables_discovery_and_openapi_over_raw_https(kube, client):
    server, token = server_and_token(kube.kubeconfig)
    issuers = f"{server}/apis/cert-manager.io/v1/namespaces/{NS}/issuers"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"},
                                     connector=aiohttp.TCPConnector(ssl=ca_context(kube.kubeconfig)),
                                     timeout=aiohttp.ClientTimeout(total=10)) as h:
        doc = "kind: Issuer\napiVersion: cert-manager.io/v1\nmetadata: {name: yaml-issuer}\n" \
              "spec: {ca: {secretName: s, typo: 1}}\n"
        async with h.post(issuers, data=doc, headers={"Content-Type": "application/yaml"}) as r:
            assert r.status == 201 and r.headers["Warning"] == '299 - "unknown field \\"spec.ca.typo\\""'
            assert (await r.json())["spec"] == {"ca": {"secretName": "s"}}  # pruned, as for a CRD
        async with h.post(issuers, params={"fieldValidation": "Strict"}, data=doc.replace("yaml-", "strict-"),
                          headers={"Content-Type": "application/yaml"}) as r:
            assert r.status == 400 and 'unknown field "spec.ca.typo"' in (await r.json())["message"]
        bomb = "a: &a [x, x]\nb: &b [*a, *a]\nmetadata: {name: bomb}\n"
        async with h.post(issuers, data=bomb, headers={"Content-Type": "application/yaml"}) as r:
            assert r.status == 400 and "aliases" in (await r.json())["message"]
        async with h.post(issuers, data=b"\x00" * (3 * 1024 * 1024 + 1),
                          headers={"Content-Type": "application/json"}) as r:
            assert r.status == 413
        table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        async with h.get(issuers, headers={"Accept": table_accept}) as r:
            table = await r.json()
        assert table["kind"] == "Table" and [c["name"] for c in table["columnDefinitions"]] == [
            "Name", "Ready", "Status", "Age"]
        assert [row["cells"][0] for row in table["rows"]] == ["yaml-issuer"]
        assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
        async with h.get(f"{server}/apis/cert-manager.io/v1") as r:
            listed = {x["name"]: x for x in (await r.json())["resources"]}
        assert listed["certificaterequests"]["shortNames"] == ["cr", "crs"]
        assert listed["issuers"]["categories"] == ["cert-manager"] and "certificaterequests/status" in listed
        async with h.get(f"{server}/apis", headers={"Accept": kube_api.AGGREGATED + ",application/json"}) as r:
            assert r.headers["Content-Type"] == kube_api.AGGREGATED
            groups = {g["metadata"]["name"] for g in (await r.json())["items"]}
        assert groups == {"cert-manager.io", "authorization.k8s.io"}
        async with h.get(f"{server}/openapi/v3") as r:
            url = (await r.json())["paths"]["apis/cert-manager.io/v1"]["serverRelativeURL"]
        async with h.get(f"{server}{url}") as r:
            schemas = (await r.json())["components"]["schemas"]
        spec = schemas["io.cert-manager.v1.CertificateRequest"]["properties"]["spec"]
        assert spec == kube_schema.SCHEMAS["CertificateRequest"]["properties"]["spec"]  # what the server checks
        async with h.post(f"{server}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                          json={"spec": {"resourceAttributes": {"verb": "create", "group": "cert-manager.io",
                                                                "resource": "certificaterequests"}}}) as r:
            assert r.status == 201 and (await r.json())["status"]["allowed"] is True
        async with h.get(f"{server}/readyz") as r:
            assert await r.text() == "ok"
    with pytest.raises(ApiError) as err:
        await client.create(CertificateRequest(metadata={"name": "no-issuer-ref", "namespace": NS},
                                               spec={"request": ""}))
    assert err.value.status.code == 422 and "spec.issuerRef: Required value" in err.value.status.message


def test_strategic_merge_patch_directives():
    current = {"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"finalizers": ["x", "y"], "keep": 1}}
    patch = {"$setElementOrder/finalizers": ["y"], "metadata": {"labels": {"a": None, "c": "3"}},
             "spec": {"$deleteFromPrimitiveList/finalizers": ["x"], "$retainKeys": ["finalizers"]}}
    assert strategic_merge_patch(current, patch) == {"metadata": {"labels": {"b": "2", "c": "3"}},
                                                     "spec": {"finalizers": ["y"], "keep": 1}}
    assert strategic_merge_patch(current, {"spec": {"$patch": "replace", "new": True}})["spec"] == {"new": True}
    assert "spec" not in strategic_merge_patch(current, {"spec": {"$patch": "delete"}})


def _pb(num: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return bytes([num << 3 | 2, len(data)]) + data


def test_protobuf_bodies_decode_as_kubectl_sends_them():
    meta = _pb(1, "s1") + _pb(2, "") + _pb(11, _pb(1, "app") + _pb(2, "web"))
    secret = _pb(1, meta) + _pb(2, _pb(1, "tls.crt") + _pb(2, b"\x00\xff")) + _pb(3, "kubernetes.io/tls")
    body = kube_proto.MAGIC + _pb(1, _pb(1, "v1") + _pb(2, "Secret")) + _pb(2, secret)
    assert kube_proto.decode(body) == {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                                       "metadata": {"name": "s1", "labels": {"app": "web"}},
                                       "data": {"tls.crt": "AP8="}}
    with pytest.raises(kube_proto.ProtoError, match="kind 'Pod' cannot be sent as protobuf"):
        kube_proto.decode(kube_proto.MAGIC + _pb(1, _pb(1, "v1") + _pb(2, "Pod")))
    with pytest.raises(kube_proto.ProtoError, match="truncated"):
        kube_proto.decode(kube_proto.MAGIC + b"\x0a\x7f")


async def test_events_are_capped_oldest_first(monkeypatch):
    monkeypatch.setattr(kube_store, "EVENT_LIMIT", 3)
    store = kube_store.KubeStore()
    await store.create(kube_store.KINDS["namespaces"], "", {"metadata": {"name": "ev"}})
    for i in range(5):
        await store.create(kube_store.KINDS["events"], "ev", {"metadata": {"name": f"e{i}"}, "reason": "R"})
    assert [o["metadata"]["name"] for o in store.list(kube_store.KINDS["events"], "ev")] == ["e2", "e3", "e4"]
