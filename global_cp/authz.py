"""Who may call global's API (Kuma's api-server authn and access.static).

Authentication: `Authorization: Bearer <user token>`; without a token a
loopback caller is mesh-system:admin (api.authn.localhost_is_admin), anyone
else is anonymous. Authorization is the table ROUTE_ACTIONS below, keyed by
the matched route (not the raw path, so encodings cannot dodge a rule)."""
from __future__ import annotations

import ipaddress
import logging
import os
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from common.durations import DurationError, parse_duration
from common.errors import Forbidden, MzsimError, ValidationError, Violation
from common.files import write_private
from common.resources import secret
from common.store import Store
from common.tokens import (
    ADMIN,
    ADMIN_GROUP,
    ADMIN_TOKEN_SECRET,
    ADMIN_USER,
    ANONYMOUS,
    TokenError,
    User,
    UserTokens,
)

from .config import AccessList, GlobalConfig

log = logging.getLogger("mzsim.global.authz")

ADMIN_TOKEN_FILE = "admin-user-token"
ADMIN_TOKEN_VALIDITY = 10 * 365 * 86400.0
_HOW_TO_AUTHENTICATE = ("pass a user token as 'Authorization: Bearer TOKEN' (mzsim: --api-token-file FILE or "
                        f"MZSIM_API_TOKEN); the admin token is the file {ADMIN_TOKEN_FILE} in global's data dir")

# Actions: "public" (anyone, always), "read" (anonymous unless api.authn.anonymous_read
# is false), "write" (any authenticated user), or the name of an access list in access.static.
ROUTE_ACTIONS: dict[str, str] = {
    "/meshes/{mesh}/secrets": "admin_resources",
    "/meshes/{mesh}/secrets/{name}": "admin_resources",
    "/global-secrets": "admin_resources",
    "/global-secrets/{name}": "admin_resources",
    "/tokens/zone": "generate_zone_token",
    "/tokens/user": "generate_user_token",
    # The dashboard's page and assets hold no data: public, so a browser can show its token form.
    "/dashboard": "public",
    "/dashboard/static/{asset}": "public",
}
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
USER = web.RequestKey("user", User)  # who the request acts as


class Unauthorized(MzsimError):
    status = 401
    title = "Unauthenticated"


def action_for(request: web.Request) -> str:
    route = request.match_info.route.resource
    template = route.canonical if route is not None else ""
    action = ROUTE_ACTIONS.get(template)
    if action:
        return action
    return "read" if request.method in _READ_METHODS else "write"


def is_loopback(remote: str | None) -> bool:
    try:
        addr = ipaddress.ip_address((remote or "").split("%")[0])
    except ValueError:
        return False  # a unix socket or unknown peer is not trusted
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def allowed(user: User, access: AccessList) -> bool:
    return user.name in access.users or any(g in access.groups for g in user.groups)


class Authz:
    def __init__(self, config: GlobalConfig, users: UserTokens):
        self.config = config
        self.users = users

    def identify(self, request: web.Request) -> User:
        auth = request.headers.get("Authorization")
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized(f"the Authorization header must be 'Bearer TOKEN'; {_HOW_TO_AUTHENTICATE}")
            try:
                return self.users.verify(token.strip())
            except TokenError as e:
                raise Unauthorized(str(e)) from None
        if self.config.api.authn.localhost_is_admin and is_loopback(request.remote):
            return ADMIN
        return ANONYMOUS

    def authorize(self, user: User, action: str, what: str) -> None:
        if action == "public" or (action == "read" and self.config.api.authn.anonymous_read):
            return
        if user is ANONYMOUS:
            raise Unauthorized(f"{what} needs authentication; {_HOW_TO_AUTHENTICATE}")
        if action in ("read", "write"):
            return
        access: AccessList = getattr(self.config.access.static, action)
        if not allowed(user, access):
            needed = " or ".join([*(f"group {g}" for g in access.groups), *(f"user {u}" for u in access.users)])
            raise Forbidden(f"user {user.name!r} may not {what}: it needs {needed or 'a rule that allows it'} "
                            f"(access.static.{action})")

    def middleware(self) -> Middleware:
        @web.middleware
        async def authz(request: web.Request, handler: Handler) -> web.StreamResponse:
            user = self.identify(request)
            request[USER] = user
            self.authorize(user, action_for(request), f"{request.method} {request.path}")
            return await handler(request)

        return authz

    async def user_token(self, request: web.Request) -> web.Response:
        """POST /tokens/user {"name", "groups", "validFor"}: a user token, as text (like /tokens/zone)."""
        body = await _json_body(request, '{"name": "NAME", "groups": ["GROUP"], "validFor": "24h"}')
        name, groups = body.get("name"), body.get("groups", [])
        causes = []
        if not isinstance(name, str) or not name.strip() or len(name) > 253:
            causes.append(Violation("name", "is required: the user's name (at most 253 characters)"))
        if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups) or len(groups) > 64:
            causes.append(Violation("groups", "must be a list of at most 64 group names, e.g. [\"team-a\"]"))
        if causes:
            raise ValidationError(causes)
        valid_for = valid_for_seconds(body, self.config.tokens.max_valid_for)
        token = self.users.issue(str(name), list(groups), valid_for)
        log.info("issued a user token for %s (groups %s) valid for %gs", name, ",".join(groups), valid_for)
        return web.Response(text=token, content_type="text/plain")


async def _json_body(request: web.Request, example: str) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ValidationError([Violation("", f"body must be JSON: {example}")]) from None
    if not isinstance(body, dict):
        raise ValidationError([Violation("", f"body must be a JSON object: {example}")])
    return body


def valid_for_seconds(body: dict[str, Any], cap: float) -> float:
    try:
        valid_for = parse_duration(body.get("validFor") or "24h")
    except DurationError as e:
        raise ValidationError([Violation("validFor", str(e))]) from None
    if valid_for <= 0:
        raise ValidationError([Violation("validFor", "must be positive, e.g. 24h")])
    if valid_for > cap:
        raise ValidationError([Violation("validFor", f"must be at most {cap:g}s ({cap / 86400:g}d); "
                                                     "raise tokens.max_valid_for to allow longer")])
    return valid_for


def ensure_admin_token(store: Store, users: UserTokens, data_dir: str) -> str:
    """The admin user token: kept as GlobalSecret admin-user-token, written to
    {data_dir}/admin-user-token (0600). A new one is made on first start, or if
    the stored one no longer verifies (its key was deleted or rotated away)."""
    users.signer.ensure_key()
    res = store.get("GlobalSecret", ADMIN_TOKEN_SECRET)
    token = ""
    if res is not None:
        try:
            token = res.secret_bytes().decode().strip()
            users.verify(token)
        except (TokenError, ValueError, UnicodeDecodeError) as e:
            log.warning("the stored admin user token no longer verifies (%s); issuing a new one", e)
            token = ""
    if not token:
        token = users.issue(ADMIN_USER, [ADMIN_GROUP], ADMIN_TOKEN_VALIDITY)
        store.put(secret(ADMIN_TOKEN_SECRET, token, kind="GlobalSecret"))
    path = os.path.join(data_dir, ADMIN_TOKEN_FILE)
    write_private(path, token + "\n")
    return path
