"""aiohttp helpers shared by the global and zone APIs: Kuma's error shape,
body limits, reading Universal/Kubernetes YAML or JSON bodies, Prometheus."""
from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .errors import BadRequest, MzsimError, TooLarge, ValidationError, Violation, bind_error
from .metrics import Registry
from .resources import Resource, load_documents, parse_resource, to_universal

log = logging.getLogger("mzsim.http")


def error_response(err: MzsimError) -> web.Response:
    return web.json_response(err.body(), status=err.status)


def make_error_middleware() -> Middleware:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except MzsimError as e:
            return error_response(e)
        except web.HTTPRequestEntityTooLarge:
            limit = request.app._client_max_size  # aiohttp keeps the limit only here
            return error_response(TooLarge(f"request body exceeds the {limit}-byte limit; "
                                           "split it or raise api.max_body_bytes (MZSIM_API_MAX_BODY_BYTES)"))
        except web.HTTPException as e:
            if e.status >= 400 and e.content_type != "application/json":
                return web.json_response({"title": e.reason, "details": e.text or e.reason, "causes": []},
                                         status=e.status)
            raise
        except Exception:
            log.exception("unhandled error serving %s %s", request.method, request.path)
            return web.json_response({"title": "Internal error", "details": "see the server log", "causes": []},
                                     status=500)

    return errors


async def read_resource(request: web.Request, *, kind: str, name: str, mesh: str | None = None) -> Resource:
    """Parse a PUT body (JSON or YAML, Universal or Kubernetes form) and check it
    matches the URL's kind, name and mesh."""
    text = await request.text()
    docs = load_documents(text, "request body")
    if len(docs) != 1:
        raise BadRequest(f"request body must hold exactly one resource, found {len(docs)}")
    doc = docs[0]
    if isinstance(doc, dict) and "type" not in doc and "kind" not in doc and "apiVersion" not in doc:
        # A bare Universal body without type/name: fill them in from the URL.
        doc = {"type": kind, "name": name, **({"mesh": mesh} if mesh else {}), **doc}
    res = parse_resource(doc)
    causes: list[tuple[str, str]] = []
    if res.kind != kind:
        causes.append(("type", f"is {res.kind!r} but this URL takes a {kind}"))
    if res.name != name:
        causes.append(("name", f"is {res.name!r} but the URL names {name!r}; make them match"))
    if mesh is not None and res.mesh != mesh:
        causes.append(("mesh", f"is {res.mesh!r} but the URL names mesh {mesh!r}; make them match"))
    if causes:
        raise ValidationError([Violation(f, m) for f, m in causes], details="Resource does not match the URL")
    return res


def resource_json(res: Resource) -> dict[str, Any]:
    return to_universal(res.redacted(), with_meta=True)


def page(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Kuma's list shape."""
    return {"total": len(items), "items": items, "next": None}


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, indent=2), status=status, content_type="application/json")


def metrics_handler(registry: Registry) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=registry.render(), content_type="text/plain")

    return handler


async def start_site(app: web.Application, host: str, port: int,
                     ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise bind_error(e, host, port) from None
    return runner
