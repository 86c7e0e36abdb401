"""aiohttp helpers shared by the global and zone APIs: Kuma's error shape,
body limits, reading Universal/Kubernetes YAML or JSON bodies, Prometheus."""
from __future__ import annotations

import asyncio
import importlib.resources
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .config import duration_field
from .errors import BadRequest, MzsimError, TooLarge, ValidationError, Violation, bind_error, problem
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
                return web.json_response(problem(e.status, e.reason, e.text or e.reason), status=e.status)
            raise
        except Exception:
            body = problem(500, "Internal error", "see the server log")
            log.exception("unhandled error serving %s %s (instance %s)", request.method, request.path,
                          body["instance"])
            return web.json_response(body, status=500)

    return errors


async def read_resource(request: web.Request, *, kind: str, name: str, mesh: str | None = None) -> Resource:
    """Parse a PUT body (JSON or YAML, Universal or Kubernetes form) and check it
    matches the URL's kind, name and mesh."""
    try:
        text = (await request.read()).decode(request.charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        raise BadRequest("request body is not UTF-8 text; send JSON or YAML") from None
    # Off the event loop: a big YAML body takes the pure-Python parser a while, and KDS sessions must not wait.
    docs = await asyncio.to_thread(load_documents, text, "request body")
    if len(docs) != 1:
        raise BadRequest(f"request body must hold exactly one resource, found {len(docs)}")
    doc = docs[0]
    if isinstance(doc, dict) and "type" not in doc and "kind" not in doc and "apiVersion" not in doc:
        # As Kuma: the body names its type, and it must be the URL's.
        raise ValidationError([Violation("type", f"is required: add 'type: {kind}' to the body")],
                              details="Resource does not match the URL")
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


def openapi_handler(package: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """GET /openapi.yaml: the package's own OpenAPI 3 document (a copy is kept in docs/)."""
    text = importlib.resources.files(package).joinpath("openapi.yaml").read_text()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=text, content_type="application/yaml")

    return handler


def metrics_handler(registry: Registry) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=registry.render(), content_type="text/plain")

    return handler


@dataclass
class HttpLimits:
    """`http:` in both processes' configuration. aiohttp's idle timer runs from the connection's
    start and after each response until a whole request head has arrived, so `keepalive_timeout`
    bounds both idle keep-alive connections and a request head that trickles in (slowloris)."""

    keepalive_timeout: float = duration_field(15.0, "close a connection idle (or still sending its request "
                                                    "head) for this long")
    max_line_size: int = 8190  # the request line
    max_field_size: int = 8190  # one header
    max_headers: int = 100


async def start_site(app: web.Application, host: str, port: int, limits: HttpLimits | None = None,
                     ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:
    limits = limits or HttpLimits()
    if limits.keepalive_timeout <= 0:
        raise BadRequest("configuration http.keepalive_timeout must be positive: 0 would keep idle "
                         "connections open forever")
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1, keepalive_timeout=limits.keepalive_timeout,
                           max_line_size=limits.max_line_size, max_field_size=limits.max_field_size,
                           max_headers=limits.max_headers)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise bind_error(e, host, port) from None
    return runner
