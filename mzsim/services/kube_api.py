"""mzsim's local Kubernetes API server (`mzsim kube-api`): exactly what the
certmanager backend and the issuer controller need, served like a real
kube-apiserver so a real client (lightkube) works against it unchanged.

Why not PyPI kmock: measured (see docs/certmanager.md), it has no
resourceVersions, ignores label selectors, has no PUT, slows as it ages and
hangs shutdown with an open watch; this server has all of those."""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import secrets

import yaml
from aiohttp import web

from common.signals import wait_for_stop_signal

from .kube_store import HISTORY, KINDS, KubeError, KubeStore, parse_field_selector, parse_label_selector, write_private

log = logging.getLogger("mzsim.kube-api")

BOOKMARK_SECONDS = 60.0  # idle interval between BOOKMARK events (kube-apiserver: about a minute)
PATCH_TYPES = {"application/merge-patch+json": False, "application/strategic-merge-patch+json": False,
               "application/json-patch+json": True}  # content type -> is a JSON patch (list of operations)


def _json(obj, status: int = 200) -> web.Response:
    # Exactly "application/json", no charset, as kube-apiserver: clients such
    # as lightkube only decode Status errors with that exact Content-Type.
    return web.Response(body=json.dumps(obj).encode(), status=status, headers={"Content-Type": "application/json"})


def _status(err: KubeError) -> web.Response:
    return _json(err.status(), err.code)


class KubeApi:
    def __init__(self, token: str, data_file: str | None = None, history: int = HISTORY,
                 bookmark_seconds: float = BOOKMARK_SECONDS):
        self.token = token
        self.store = KubeStore(data_file, history)
        self.bookmark_seconds = bookmark_seconds
        self._closing = False

    # -- routing -----------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/version", self.version)
        app.router.add_get("/api", self.api_versions)
        app.router.add_get("/apis", self.api_groups)
        app.router.add_get("/healthz", self.healthz)
        for prefix in ("/api/{version}", "/apis/{group}/{version}"):
            for scope in ("/namespaces/{namespace}", ""):
                base = prefix + scope + "/{plural}"
                app.router.add_route("*", base, self.collection)
                app.router.add_route("*", base + "/{name}", self.item)
                app.router.add_route("*", base + "/{name}/status", self.item_status)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if request.path == "/healthz":
            return await handler(request)
        if not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {self.token}"):
            return _status(KubeError(401, "Unauthorized", "Unauthorized"))
        try:
            return await handler(request)
        except KubeError as e:
            return _status(e)

    async def healthz(self, request):
        return web.Response(text="ok")

    async def version(self, request):
        return _json({"major": "1", "minor": "31", "gitVersion": "v1.31.0-mzsim", "platform": "mzsim"})

    async def api_versions(self, request):
        return _json({"kind": "APIVersions", "versions": ["v1"]})

    async def api_groups(self, request):
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": "cert-manager.io", "versions": [{"groupVersion": "cert-manager.io/v1", "version": "v1"}],
             "preferredVersion": {"groupVersion": "cert-manager.io/v1", "version": "v1"}}]})

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

    async def _body(self, request, want=dict):
        try:
            body = await request.json(loads=json.loads)
        except ValueError:
            raise KubeError(400, "BadRequest", "the request body is not JSON") from None
        if not isinstance(body, want):
            what = "object" if want is dict else "array"
            raise KubeError(400, "BadRequest", f"the request body must be a JSON {what}")
        return body

    # -- handlers ------------------------------------------------------------------
    async def collection(self, request):
        kind, ns = self._kind(request)
        if request.method == "POST":
            obj = await self._body(request)
            return _json(await self.store.create(kind, ns, obj), 201)
        if request.method != "GET":
            raise KubeError(405, "MethodNotAllowed", f"{request.method} is not supported on a collection")
        q = request.query
        if q.get("watch") in ("true", "True", "1"):
            return await self.watch(request, kind, ns or None)
        items = self.store.list(kind, ns or None, q.get("labelSelector", ""), q.get("fieldSelector", ""))
        return _json({"kind": kind.kind + "List", "apiVersion": kind.api_version,
                                  "metadata": {"resourceVersion": str(self.store.rv)}, "items": items})

    async def item(self, request):
        kind, ns = self._kind(request)
        name = request.match_info["name"]
        if request.method == "GET":
            return _json(self.store.get(kind, ns, name))
        if request.method == "PUT":
            return _json(await self.store.replace(kind, ns, name, await self._body(request)))
        if request.method == "PATCH":
            return await self._patch(request, kind, ns, name, status_only=False)
        if request.method == "DELETE":
            return _json(await self.store.delete(kind, ns, name))
        raise KubeError(405, "MethodNotAllowed", f"{request.method} is not supported")

    async def item_status(self, request):
        kind, ns = self._kind(request)
        name = request.match_info["name"]
        if request.method == "GET":
            return _json(self.store.get(kind, ns, name))
        if request.method == "PUT":
            body = await self._body(request)
            return _json(await self.store.replace(kind, ns, name, body, status_only=True))
        if request.method == "PATCH":
            return await self._patch(request, kind, ns, name, status_only=True)
        raise KubeError(405, "MethodNotAllowed", f"{request.method} is not supported on status")

    async def _patch(self, request, kind, ns: str, name: str, *, status_only: bool):
        json_ops = PATCH_TYPES.get(request.content_type)
        if json_ops is None:  # e.g. server-side apply
            raise KubeError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                            f"accepted media types include: {', '.join(PATCH_TYPES)}")
        body = await self._body(request, list if json_ops else dict)
        return _json(await self.store.patch(kind, ns, name, body, status_only=status_only, json_ops=json_ops))

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

        async def send(etype: str, obj: dict) -> None:
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
            async with self.store.changed:
                if self.store.rv > last or self._closing:
                    continue  # changed while we were sending: no wake-up to wait for
                try:
                    await asyncio.wait_for(self.store.changed.wait(), max(0.0, wake))
                except TimeoutError:
                    pass
        if bookmarks:
            await bookmark()
        return resp

    async def close_watches(self) -> None:
        """End every open watch now, so shutdown does not wait for them."""
        self._closing = True
        async with self.store.changed:
            self.store.changed.notify_all()


def kubeconfig(server: str, token: str, namespace: str = "kong-mesh-system") -> dict:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "mzsim",
        "clusters": [{"name": "mzsim", "cluster": {"server": server}}],
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


async def serve(host: str, port: int, kubeconfig_out: str, data_file: str | None = None,
                token_file: str | None = None, history: int = HISTORY,
                bookmark_seconds: float = BOOKMARK_SECONDS) -> None:
    token = load_token(token_file)
    api = KubeApi(token, data_file, history, bookmark_seconds)
    runner = web.AppRunner(api.app(), access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    write_private(kubeconfig_out, yaml.safe_dump(kubeconfig(f"http://{host}:{port}", token)))  # holds the token
    await wait_for_stop_signal(f"mzsim kube-api ready: http://{host}:{port} (kubeconfig {kubeconfig_out})")
    await api.close_watches()
    await runner.cleanup()
