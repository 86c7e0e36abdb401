"""mzsim's local Kubernetes API server (`mzsim kube-api`): exactly what the
certmanager backend and the issuer controller need, served like a real
kube-apiserver so a real client (lightkube) works against it unchanged.

Why not PyPI kmock: measured (see docs/certmanager.md), it has no
resourceVersions, ignores label selectors, has no PUT, slows as it ages and
hangs shutdown with an open watch; this server has all of those."""
from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
import json
import logging
import os
import secrets
import ssl
import tempfile

import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from common.signals import wait_for_stop_signal
from common.timefmt import now_text
from common.x509util import cert_to_pem, generate_key, key_to_pem, make_ca, sign_csr

from . import kube_proto, kube_schema
from .kube_store import (
    HISTORY,
    KINDS,
    Kind,
    KubeError,
    KubeStore,
    parse_field_selector,
    parse_label_selector,
    write_private,
)

log = logging.getLogger("mzsim.kube-api")

BOOKMARK_SECONDS = 60.0  # idle interval between BOOKMARK events (kube-apiserver: about a minute)
MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's request size limit
PATCH_TYPES = {"application/merge-patch+json": "merge", "application/strategic-merge-patch+json": "strategic",
               "application/json-patch+json": "json", "application/apply-patch+yaml": "apply"}
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "application/apply-patch+yaml")
PROTOBUF = "application/vnd.kubernetes.protobuf"
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
SSAR_GV = ("authorization.k8s.io", "v1")
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
UNAUTHENTICATED = ("/healthz", "/readyz", "/livez")  # as kube-apiserver's system:public-info-viewer


def _json(obj, status: int = 200, content_type: str = "application/json", warnings: list[str] | None = None):
    # Exactly "application/json", no charset, as kube-apiserver: clients such
    # as lightkube only decode Status errors with that exact Content-Type.
    headers = {"Content-Type": content_type}
    resp = web.Response(body=json.dumps(obj).encode(), status=status, headers=headers)
    for w in warnings or ():
        resp.headers.add("Warning", '299 - "' + w.replace('"', '\\"') + '"')
    return resp


def _status(err: KubeError) -> web.Response:
    return _json(err.status(), err.code)


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a small body cannot expand into a huge one."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            raise KubeError(400, "BadRequest", "YAML aliases (*name) are not accepted in request bodies")
        return super().compose_node(parent, index)


def _served() -> dict[tuple[str, str], list[Kind]]:
    out: dict[tuple[str, str], list[Kind]] = {}
    for k in KINDS.values():
        out.setdefault((k.group, k.version), []).append(k)
    return out


SERVED = _served()


def _resource(k: Kind) -> dict:
    return {"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced, "kind": k.kind,
            "verbs": VERBS, **({"shortNames": list(k.short_names)} if k.short_names else {}),
            **({"categories": list(k.categories)} if k.categories else {})}


def resource_list(group: str, version: str) -> dict:
    """The APIResourceList of one group-version (legacy discovery)."""
    gv = f"{group}/{version}" if group else version
    resources = []
    for k in SERVED.get((group, version), []):
        resources.append(_resource(k))
        if k.group:  # the CRDs have a status subresource
            resources.append({"name": f"{k.plural}/status", "singularName": "", "namespaced": k.namespaced,
                              "kind": k.kind, "verbs": ["get", "patch", "update"]})
    if (group, version) == SSAR_GV:
        resources.append({"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview",
                          "namespaced": False, "kind": "SelfSubjectAccessReview", "verbs": ["create"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def _group_versions() -> list[tuple[str, str]]:
    return sorted({*SERVED, SSAR_GV})


def aggregated(core: bool) -> dict:
    """apidiscovery.k8s.io/v2: every resource of /api (core) or /apis in one answer."""
    items = []
    for group, version in _group_versions():
        if (group == "") != core:
            continue
        resources = []
        for r in resource_list(group, version)["resources"]:
            if "/" in r["name"]:
                continue
            entry = {"resource": r["name"], "responseKind": {"group": group, "version": version, "kind": r["kind"]},
                     "scope": "Namespaced" if r["namespaced"] else "Cluster", "singularResource": r["singularName"],
                     "verbs": r["verbs"], **{k: r[k] for k in ("shortNames", "categories") if k in r}}
            if group and r["name"] in KINDS:
                entry["subresources"] = [{"subresource": "status", "verbs": ["get", "patch", "update"],
                                          "responseKind": entry["responseKind"]}]
            resources.append(entry)
        items.append({"metadata": {"name": group}, "versions": [
            {"version": version, "resources": resources, "freshness": "Current"}]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}


class KubeApi:
    def __init__(self, token: str, data_file: str | None = None, history: int = HISTORY,
                 bookmark_seconds: float = BOOKMARK_SECONDS):
        self.token = token
        self.store = KubeStore(data_file, history)
        self.bookmark_seconds = bookmark_seconds
        self._closing = False
        self._openapi = {gv: kube_schema.openapi_v3(*gv, kinds) for gv, kinds in SERVED.items()}

    # -- routing -----------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth], client_max_size=MAX_BODY)
        app.router.add_get("/version", self.version)
        app.router.add_get("/api", self.api_versions)
        app.router.add_get("/apis", self.api_groups)
        app.router.add_get("/api/{version}", self.discovery)
        app.router.add_get("/apis/{group}/{version}", self.discovery)
        for path in UNAUTHENTICATED:
            app.router.add_get(path, self.healthz)
        app.router.add_get("/openapi/v2", self.openapi_v2)
        app.router.add_get("/openapi/v3", self.openapi_index)
        app.router.add_get("/openapi/v3/{gv:.+}", self.openapi_doc)
        app.router.add_post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", self.access_review)
        for prefix in ("/api/{version}", "/apis/{group}/{version}"):
            for scope in ("/namespaces/{namespace}", ""):
                base = prefix + scope + "/{plural}"
                app.router.add_route("*", base, self.collection)
                app.router.add_route("*", base + "/{name}", self.item)
                app.router.add_route("*", base + "/{name}/status", self.item_status)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if request.path in UNAUTHENTICATED:
            return await handler(request)
        if not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {self.token}"):
            return _status(KubeError(401, "Unauthorized", "Unauthorized"))
        try:
            return await handler(request)
        except KubeError as e:
            return _status(e)
        except web.HTTPRequestEntityTooLarge:
            return _status(KubeError(413, "RequestEntityTooLarge", f"the request body is larger than {MAX_BODY} "
                                     "bytes"))

    async def healthz(self, request):
        return web.Response(text="ok")

    async def version(self, request):
        return _json({"major": "1", "minor": "32", "gitVersion": "v1.32.0-mzsim", "platform": "linux/amd64",
                      "goVersion": "mzsim", "compiler": "mzsim", "gitCommit": "", "gitTreeState": "clean",
                      "buildDate": "2026-01-01T00:00:00Z"})

    @staticmethod
    def _wants_aggregated(request) -> bool:
        accept = request.headers.get("Accept", "").split(",")[0].replace(" ", "")
        return "as=APIGroupDiscoveryList" in accept and "v=v2;" in accept + ";"

    async def api_versions(self, request):
        if self._wants_aggregated(request):
            return _json(aggregated(core=True), content_type=AGGREGATED)
        return _json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}]})

    async def api_groups(self, request):
        if self._wants_aggregated(request):
            return _json(aggregated(core=False), content_type=AGGREGATED)
        groups = []
        for group, version in _group_versions():
            if group:
                gv = {"groupVersion": f"{group}/{version}", "version": version}
                groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    async def discovery(self, request):
        m = request.match_info
        group, version = m.get("group", ""), m["version"]
        if (group, version) not in _group_versions():
            served = ", ".join(f"{g}/{v}" if g else v for g, v in _group_versions())
            raise KubeError(404, "NotFound", f"the server could not find the requested resource ({request.path}); "
                            f"served: {served}")
        return _json(resource_list(group, version))

    async def openapi_v2(self, request):
        raise KubeError(404, "NotFound", "OpenAPI v2 is not served (client-go reads it only as protobuf); "
                        "/openapi/v3 is, and kubectl uses it for explain and for field validation")

    async def openapi_index(self, request):
        paths = {}
        for (group, version), doc in self._openapi.items():
            key = f"apis/{group}/{version}" if group else f"api/{version}"
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={kube_schema.doc_hash(doc)}"}
        return _json({"paths": paths})

    async def openapi_doc(self, request):
        parts = request.match_info["gv"].split("/")
        gv = (parts[1], parts[2]) if parts[0] == "apis" and len(parts) == 3 else (
            ("", parts[1]) if parts[0] == "api" and len(parts) == 2 else None)
        doc = self._openapi.get(gv) if gv else None
        if doc is None:
            raise KubeError(404, "NotFound", f"no OpenAPI v3 document for {request.match_info['gv']}; see /openapi/v3")
        return _json(doc)

    async def access_review(self, request):
        """SelfSubjectAccessReview: the bearer token may do everything this server serves."""
        body = await self._body(request)
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if (ra is None) == (nra is None):
            raise KubeError(422, "Invalid", "SelfSubjectAccessReview.authorization.k8s.io is invalid: spec: Invalid "
                            "value: exactly one of nonResourceAttributes or resourceAttributes must be specified")
        if ra is not None:
            kind = KINDS.get(str(ra.get("resource", "")))
            verb = ra.get("verb", "")
            if kind is None or (ra.get("group") or "") != kind.group:
                allowed, reason = False, (f"mzsim kube-api does not serve {ra.get('resource')!r} in group "
                                          f"{ra.get('group') or 'core'!r}")
            elif verb not in (*VERBS, "*"):
                allowed, reason = False, f"mzsim kube-api does not support the verb {verb!r}"
            else:
                allowed, reason = True, "mzsim kube-api: the bearer token has full access"
        else:
            allowed, reason = True, "mzsim kube-api: the bearer token has full access"
        status = {"allowed": allowed, "reason": reason} if allowed else {"allowed": False, "denied": True,
                                                                          "reason": reason}
        return _json({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                      "metadata": {"creationTimestamp": now_text()}, "spec": spec, "status": status}, 201)

    def _kind(self, request):
        m = request.match_info
        kind = KINDS.get(m["plural"])
        group = m.get("group", "")
        if kind is None or kind.group != group or kind.version != m["version"]:
            raise KubeError(404, "NotFound", f"the server could not find the requested resource ({m['plural']})")
        ns = m.get("namespace", "")
        if kind.namespaced and not ns and request.method != "GET":
            raise KubeError(404, "NotFound", f"{kind.plural} are namespaced: use /namespaces/NS/{kind.plural}")
        if not kind.namespaced and ns:
            raise KubeError(404, "NotFound", f"{kind.plural} are cluster-scoped")
        return kind, ns

    @staticmethod
    def _dry_run(request) -> bool:
        values = request.query.getall("dryRun", [])
        if any(v != "All" for v in values):
            raise KubeError(400, "BadRequest", f"dryRun {values!r} is invalid: the only value is All")
        return bool(values)

    @staticmethod
    def _validation(request) -> str:
        v = request.query.get("fieldValidation", "Warn")
        if v not in ("Ignore", "Warn", "Strict"):
            raise KubeError(400, "BadRequest", f"fieldValidation {v!r} is invalid: use Ignore, Warn or Strict")
        return v

    async def _body(self, request, want=dict):
        raw = await request.read()
        ctype = request.content_type
        is_yaml = ctype in YAML_TYPES
        try:
            if ctype == PROTOBUF:
                body = kube_proto.decode(raw)
            elif is_yaml:
                body = yaml.load(raw, Loader=_NoAliasLoader)
            elif ctype in ("", "application/octet-stream"):  # `kubectl create --raw -f x.yaml` sets no type
                try:
                    body = json.loads(raw)
                except ValueError:
                    is_yaml, body = True, yaml.load(raw, Loader=_NoAliasLoader)
            else:
                body = json.loads(raw)
        except (ValueError, yaml.YAMLError, RecursionError) as e:
            what = "protobuf" if ctype == PROTOBUF else "YAML" if is_yaml else "JSON"
            if isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None:  # not the snippet it quotes
                e = ValueError(f"{e.problem} at line {e.problem_mark.line + 1}, column {e.problem_mark.column + 1}")
            elif isinstance(e, RecursionError):
                e = ValueError("nested too deeply")
            raise KubeError(400, "BadRequest", f"the request body is not valid {what} (Content-Type "
                            f"{request.content_type or 'missing'}; application/json and application/yaml are "
                            f"accepted; protobuf for namespaces, secrets and access reviews): {str(e)[:200]}") from None
        if not isinstance(body, want):
            what = "object" if want is dict else "array"
            raise KubeError(400, "BadRequest", f"the request body must be a JSON {what}")
        return body

    @staticmethod
    def _table(request) -> bool:
        return "as=Table" in request.headers.get("Accept", "")

    # -- handlers ------------------------------------------------------------------
    def _one(self, request, kind: Kind, obj: dict, status: int = 200, warnings: list[str] | None = None):
        if self._table(request):
            return _json(kube_schema.table(kind.kind, [obj], obj["metadata"]["resourceVersion"],
                                           request.query.get("includeObject", "Metadata")), status)
        return _json(obj, status, warnings=warnings)

    async def collection(self, request):
        kind, ns = self._kind(request)
        if request.method == "POST":
            obj, warnings = await self._body(request), []
            created = await self.store.create(kind, ns, obj, validation=self._validation(request), warnings=warnings,
                                              dry_run=self._dry_run(request))
            return self._one(request, kind, created, 201, warnings)
        if request.method != "GET":
            raise KubeError(405, "MethodNotAllowed", f"{request.method} is not supported on a collection")
        q = request.query
        if q.get("watch") in ("true", "True", "1"):
            return await self.watch(request, kind, ns or None)
        items = self.store.list(kind, ns or None, q.get("labelSelector", ""), q.get("fieldSelector", ""))
        rv = str(self.store.rv)
        if self._table(request):
            return _json(kube_schema.table(kind.kind, items, rv, q.get("includeObject", "Metadata")))
        return _json({"kind": kind.kind + "List", "apiVersion": kind.api_version,
                      "metadata": {"resourceVersion": rv}, "items": items})

    async def item(self, request):
        return await self._item(request, status_only=False)

    async def item_status(self, request):
        return await self._item(request, status_only=True)

    async def _item(self, request, *, status_only: bool):
        kind, ns = self._kind(request)
        name = request.match_info["name"]
        if status_only and not kind.group:
            raise KubeError(404, "NotFound", f"{kind.plural} have no status subresource here")
        warnings: list[str] = []
        if request.method == "GET":
            return self._one(request, kind, self.store.get(kind, ns, name))
        if request.method == "PUT":
            obj = await self.store.replace(kind, ns, name, await self._body(request), status_only=status_only,
                                           validation=self._validation(request), warnings=warnings,
                                           dry_run=self._dry_run(request))
            return self._one(request, kind, obj, warnings=warnings)
        if request.method == "PATCH":
            patch_type = PATCH_TYPES.get(request.content_type)
            if patch_type is None:
                raise KubeError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                                f"accepted media types include: {', '.join(PATCH_TYPES)}")
            body = await self._body(request, list if patch_type == "json" else dict)
            obj = await self.store.patch(kind, ns, name, body, status_only=status_only, patch_type=patch_type,
                                         validation=self._validation(request), warnings=warnings,
                                         dry_run=self._dry_run(request))
            return self._one(request, kind, obj, warnings=warnings)
        if request.method == "DELETE" and not status_only:
            options = await self._body(request) if request.can_read_body else {}  # DeleteOptions
            dry_run = self._dry_run(request) or options.get("dryRun") == ["All"]
            return self._one(request, kind, await self.store.delete(kind, ns, name, dry_run=dry_run))
        raise KubeError(405, "MethodNotAllowed", f"{request.method} is not supported"
                        f"{' on status' if status_only else ''}")

    async def watch(self, request, kind, ns):
        try:
            return await self._watch(request, kind, ns)
        except ConnectionError:  # the client went away: that ends its watch
            return web.Response(status=499)

    async def _watch(self, request, kind, ns):
        """Stream watch events as JSON lines, from `resourceVersion` (exclusive);
        BOOKMARKs when asked for (allowWatchBookmarks), on idle and at the end."""
        q = request.query
        lsel = parse_label_selector(q.get("labelSelector", ""))
        fsel = parse_field_selector(q.get("fieldSelector", ""))
        timeout = float(q.get("timeoutSeconds") or 1800)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "True", "1")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)

        as_table, include = self._table(request), q.get("includeObject", "Metadata")

        async def send(etype: str, obj: dict) -> None:
            if as_table and etype != "BOOKMARK" and etype != "ERROR":
                obj = kube_schema.table(kind.kind, [obj], obj["metadata"]["resourceVersion"], include)
            await resp.write((json.dumps({"type": etype, "object": obj}) + "\n").encode())

        async def bookmark() -> None:
            await send("BOOKMARK", {"kind": kind.kind, "apiVersion": kind.api_version,
                                    "metadata": {"resourceVersion": str(last)}})

        start = q.get("resourceVersion", "")
        if start in ("", "0"):
            for obj in self.store.list(kind, ns):
                if lsel(obj) and fsel(obj):
                    await send("ADDED", obj)
            last = self.store.rv
        else:
            try:
                last = int(start)
            except ValueError:
                raise KubeError(400, "BadRequest", f"resourceVersion {start!r} is not a number") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_bookmark = loop.time() + self.bookmark_seconds
        while not self._closing:
            if last < self.store.oldest_rv - 1:  # asked for, or fell behind, what history no longer has
                await send("ERROR", KubeError(410, "Expired", f"too old resource version: {last} "
                                                              f"({self.store.oldest_rv})").status())
                return resp
            for rv, etype, plural, ens, obj in self.store.since(last):
                last = rv  # also past other kinds' events, so they are not looked at again
                if plural != kind.plural or (ns is not None and ens != ns):
                    continue
                if lsel(obj) and fsel(obj):
                    await send(etype, obj)
                    next_bookmark = loop.time() + self.bookmark_seconds
            now = loop.time()
            if now >= deadline:
                break
            if bookmarks and now >= next_bookmark:
                await bookmark()
                next_bookmark = now + self.bookmark_seconds
            wake = min(deadline, next_bookmark if bookmarks else deadline) - now
            changed = self.store.changed[kind.plural]
            async with changed:
                if self.store.kind_rv.get(kind.plural, 0) > last or self._closing:
                    continue  # changed while we were sending: no wake-up to wait for
                try:
                    await asyncio.wait_for(changed.wait(), max(0.0, wake))
                except TimeoutError:
                    pass
        if bookmarks:
            await bookmark()
        return resp

    async def close_watches(self) -> None:
        """End every open watch now, so shutdown does not wait for them."""
        self._closing = True
        for changed in self.store.changed.values():
            async with changed:
                changed.notify_all()


def kubeconfig(server: str, token: str, namespace: str = "kong-mesh-system", ca_pem: str | None = None) -> dict:
    cluster: dict = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "mzsim",
        "clusters": [{"name": "mzsim", "cluster": cluster}],
        "users": [{"name": "mzsim", "user": {"token": token}}],
        "contexts": [{"name": "mzsim", "context": {"cluster": "mzsim", "user": "mzsim", "namespace": namespace}}],
    }


def load_token(token_file: str | None) -> str:
    """A fresh bearer token, or the one in `token_file` (made there if absent),
    so clients keep working across restarts."""
    if token_file and os.path.exists(token_file):
        with open(token_file) as f:
            token = f.read().strip()
        if token:
            return token
    token = secrets.token_urlsafe(24)
    if token_file:
        write_private(token_file, token + "\n")
    return token


TLS_FILES = ("ca.pem", "server.pem", "server-key.pem")


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def tls_material(host: str, tls_dir: str | None) -> tuple[str, str, str]:
    """(CA PEM, serving certificate PEM, its key PEM): a self-signed CA (its key
    is thrown away) and a serving certificate for localhost, 127.0.0.1, ::1 and
    `host`. Kept in `tls_dir` (mode 0600) when given, so kubeconfigs stay
    valid across restarts; otherwise fresh each start."""
    if tls_dir and all(os.path.exists(os.path.join(tls_dir, n)) for n in TLS_FILES):
        texts = []
        for n in TLS_FILES:
            with open(os.path.join(tls_dir, n)) as f:
                texts.append(f.read())
        return texts[0], texts[1], texts[2]
    ca_cert, ca_key = make_ca("mzsim kube-api CA", key_type="ec", lifetime_seconds=10 * 365 * 86400)
    key = generate_key("ec")
    names = list(dict.fromkeys(["localhost", "127.0.0.1", "::1", host]))
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mzsim kube-api")]))
           .add_extension(x509.SubjectAlternativeName([_san(h) for h in names if h not in ("0.0.0.0", "::")]),
                          critical=False)
           .sign(key, hashes.SHA256()))
    leaf = sign_csr(csr, ca_cert, ca_key, 5 * 365 * 86400, usages=("digital signature", "key encipherment",
                                                                   "server auth"))
    texts = (cert_to_pem(ca_cert), cert_to_pem(leaf), key_to_pem(key))
    if tls_dir:
        os.makedirs(tls_dir, mode=0o700, exist_ok=True)
        for n, text in zip(TLS_FILES, texts, strict=True):
            write_private(os.path.join(tls_dir, n), text)
    return texts


def server_ssl_context(cert_pem: str, key_pem: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory() as d:  # the ssl module loads keys from files only; 0700 dir, gone at once
        cert_file, key_file = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        write_private(cert_file, cert_pem)
        write_private(key_file, key_pem)
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


async def serve(host: str, port: int, kubeconfig_out: str, data_file: str | None = None,
                token_file: str | None = None, history: int = HISTORY,
                bookmark_seconds: float = BOOKMARK_SECONDS, *, plain_http: bool = False,
                tls_dir: str | None = None) -> None:
    token = load_token(token_file)
    api = KubeApi(token, data_file, history, bookmark_seconds)
    ca_pem, ctx = None, None
    if not plain_http:
        ca_pem, cert_pem, key_pem = tls_material(host, tls_dir)
        ctx = server_ssl_context(cert_pem, key_pem)
    runner = web.AppRunner(api.app(), access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ctx).start()
    client_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    bracketed = f"[{client_host}]" if ":" in client_host else client_host
    url = f"{'http' if plain_http else 'https'}://{bracketed}:{port}"
    write_private(kubeconfig_out, yaml.safe_dump(kubeconfig(url, token, ca_pem=ca_pem)))  # holds the token
    await wait_for_stop_signal(f"mzsim kube-api ready: {url} (kubeconfig {kubeconfig_out})")
    await api.close_watches()
    await runner.cleanup()
