"""The live dashboard served by global: a static page (HTML, JS, CSS shipped
in the package, no external assets) and the data it reads, pushed as
server-sent events from one Feed shared by every viewer.

Access (docs/security.md): the page and its static assets carry no data and
are public, so a browser can always load the login form; the data (/dashboard/
stream, /dashboard/state) follows the API's read rule. With user tokens
required for reads (api.authn.anonymous_read: false), the page asks for a
token, keeps it in sessionStorage (this tab only) and sends it as an
Authorization header; it never goes into a URL or a cookie."""
from __future__ import annotations

import asyncio
import contextlib
from importlib import resources

from aiohttp import web

from common.errors import NotFound

from .feed import Feed

__all__ = ["Feed", "DashboardRoutes"]

ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
KEEPALIVE = 15.0  # seconds: a comment line keeps idle proxies from closing the stream


def _asset(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


class DashboardRoutes:
    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self._closing = asyncio.Event()
        self._assets = {name: _asset(name) for name in ("index.html", *ASSETS)}

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/dashboard", self.page), web.get("/dashboard/static/{asset}", self.asset),
                web.get("/dashboard/stream", self.stream), web.get("/dashboard/state", self.state)]

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=self._assets["index.html"], content_type="text/html", headers=SECURITY_HEADERS)

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["asset"]
        if name not in ASSETS:
            raise NotFound(f"no dashboard asset {name!r}; there are {', '.join(sorted(ASSETS))}")
        return web.Response(text=self._assets[name], content_type=ASSETS[name], headers=SECURITY_HEADERS)

    async def state(self, request: web.Request) -> web.Response:
        """The page's data as one JSON document (what a viewer gets first on the stream)."""
        return web.json_response(self.feed.snapshot())

    async def stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff"})
        await resp.prepare(request)
        with self.feed.viewer() as queue:
            while not self._closing.is_set():
                try:
                    data = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    data = ": keepalive\n\n"
                if not data:  # dropped (too slow) or global is stopping
                    break
                try:
                    await resp.write(data.encode())
                except (ConnectionResetError, RuntimeError):
                    break
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write_eof()
        return resp

    def close(self) -> None:
        """Global is stopping: end every stream now (the browser shows "global unreachable")."""
        self._closing.set()
        self.feed.publish_end()


