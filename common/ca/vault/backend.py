"""The `vault` backend: data plane certificates from Vault PKI `{pki}/issue/{role}`.

Auth (conf.fromCp): `agentAddress` (a Vault agent adds the token), `auth.token`,
`auth.tls` (client certificate, `auth/cert/login`) or `auth.aws` (IAM or EC2,
`auth/aws/login`). TLS: `tls.caCert`, `tls.skipVerify`, `tls.serverName`.
`namespace` goes in X-Vault-Namespace.

hvac blocks, so every call runs on this backend's own worker threads, at most
`concurrency` at a time (VaultSettings: config key backends.vault.concurrency).

Token lifecycle: the token is looked up once, renewed (renew-self) when less
than a third of its period is left, before an issue and by a background task
that close() stops; a token that can no longer be renewed gives a clear error
(login methods log in again instead). The token data source is re-read before
each issue, so a new token in the secret is used without a restart.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import hvac
import hvac.exceptions

from ...datasource import describe
from ...errors import BackendError
from ...x509util import Identity, IssuedCert, split_chain
from ..base import BackendContext, CABackend
from ..private_files import PrivateFiles
from ..templates import render_common_name
from . import auth as vault_auth
from .errors import to_backend_error
from .session import build_session
from .token import TokenState

log = logging.getLogger("mzsim.ca.vault")

ROOTS_CACHE_SECONDS = 30.0
RENEW_CHECK_MAX_INTERVAL = 60.0  # the background task looks at least this often
RENEW_CHECK_MIN_INTERVAL = 0.2

_T = TypeVar("_T")


def _lookup_self(client: hvac.Client) -> dict[str, Any] | None:
    """The token's lookup-self data, or None if Vault refuses it (a bad token,
    or one without the default policy): issuing then says what Vault thinks."""
    try:
        return client.adapter.get("/v1/auth/token/lookup-self").get("data") or {}
    except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized, hvac.exceptions.InvalidRequest):
        return None


class VaultBackend(CABackend):
    type_name = "vault"

    def __init__(self, mesh: str, spec: dict[str, Any], ctx: BackendContext) -> None:
        super().__init__(mesh, spec, ctx)
        self.from_cp: dict[str, Any] = self.conf.get("fromCp") or {}
        self.auth_conf: dict[str, Any] = self.from_cp.get("auth") or {}
        self.agent = bool(self.from_cp.get("agentAddress"))
        self.address: str = (self.from_cp.get("agentAddress") or self.from_cp.get("address") or "").rstrip("/")
        self.pki: str = (self.from_cp.get("pki") or "").strip("/")
        self.role: str = self.from_cp.get("role") or ""
        self.concurrency = max(1, ctx.settings.vault.concurrency)
        self.timeout = ctx.settings.vault.timeout_seconds
        self._sem = asyncio.Semaphore(self.concurrency)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"vault-{mesh}-{self.name}")
        self._files = PrivateFiles("vault")
        self._client: hvac.Client | None = None
        self._auth_lock = asyncio.Lock()
        self._token_bytes: bytes | None = None  # auth.token as last read
        self._state: TokenState | None = None
        self._ec2_nonce = str(uuid.uuid4())  # Vault binds EC2 re-logins to the first nonce
        self._renewer: asyncio.Task[None] | None = None
        self._roots: tuple[float, list[str]] | None = None
        self._chain_cache: tuple[tuple[str, ...], tuple[list[str], list[str]]] | None = None
        self._closed = False
        self._last_background_error = ""
        self._metrics_init()

    # -- fields -----------------------------------------------------------------
    def _field(self, rel: str) -> str:
        return f"{self.conf_path}.fromCp.{rel}"

    @property
    def auth_method(self) -> str:
        """The configured auth, also through an agent (as Vault clients send it);
        "agent" only when none is configured and the agent's auto-auth adds the token."""
        for name in ("token", "tls", "aws"):
            if name in self.auth_conf:  # `aws:` may be empty: defaults all round
                return name
        return "agent" if self.agent else "none"

    # -- metrics ----------------------------------------------------------------
    def _metrics_init(self) -> None:
        m = self.ctx.metrics
        self._ttl_gauge = None
        if m is None:
            return
        self._ttl_gauge = m.gauge(
            "mzsim_vault_token_ttl_seconds", "Seconds until the vault backend's token expires",
            ("mesh", "backend"))

    def _publish_ttl(self) -> None:
        left = self.token_ttl_remaining()
        if self._ttl_gauge is not None and left is not None:
            self._ttl_gauge.set(max(0.0, left), mesh=self.mesh, backend=self.name)

    def token_ttl_remaining(self) -> float | None:
        """Seconds until the token expires; None if it never does or is unknown."""
        return self._state.remaining() if self._state else None

    # -- running blocking calls -------------------------------------------------
    async def _call(self, operation: str, fn: Callable[..., _T], *args: Any, field_rel: str = "") -> _T:
        async with self._sem:
            start = time.monotonic()
            loop = asyncio.get_running_loop()
            try:
                result = await loop.run_in_executor(self._pool, fn, *args)
            except Exception as e:  # noqa: BLE001 - translated below; unknown ones re-raise
                self.observe_request(operation, "error", time.monotonic() - start)
                raise to_backend_error(e, self.address, field_path=self._field(field_rel or "address"),
                                       address_field=self._field("agentAddress" if self.agent else "address"),
                                       tls_field=self._field("tls")) from None
            self.observe_request(operation, "ok", time.monotonic() - start)
            return result

    def _build_client(self) -> hvac.Client:
        tls = self.from_cp.get("tls") or {}
        ca_pem = self.read(tls["caCert"], "fromCp.tls.caCert") if tls.get("caCert") else None
        cert_pem = key_pem = None
        if self.auth_method == "tls":
            tls_auth = self.auth_conf["tls"] or {}
            cert_pem = self.read(tls_auth.get("clientCert"), "fromCp.auth.tls.clientCert")
            key_pem = self.read(tls_auth.get("clientKey"), "fromCp.auth.tls.clientKey")
        session = build_session(
            self._files, ca_pem=ca_pem, skip_verify=bool(tls.get("skipVerify")),
            server_name=tls.get("serverName") or "", client_cert_pem=cert_pem, client_key_pem=key_pem,
            pool_size=self.concurrency,
        )
        # hvac ignores a falsy session.verify, so verify and cert are passed again here. Given None,
        # hvac reads VAULT_TOKEN / ~/.vault-token and VAULT_CLIENT_CERT: "" and () are "none".
        return hvac.Client(url=self.address, token="", session=session, verify=session.verify,
                           cert=session.cert or (), timeout=self.timeout,
                           namespace=self.from_cp.get("namespace") or None)

    def _get_client(self) -> hvac.Client:
        if self._closed:
            raise BackendError(f"vault backend {self.name} of mesh {self.mesh} is closed", retryable=False)
        if self._client is None:
            self._client = self._build_client()
        return self._client

    # -- auth and token lifecycle ---------------------------------------------
    async def _ensure_auth(self) -> None:
        method = self.auth_method
        if method == "agent":
            return
        if method == "none":
            raise BackendError("no Vault authentication configured: set one of auth.token, auth.tls or auth.aws, "
                               "or agentAddress", retryable=False, field_path=self._field("auth"))
        client = self._get_client()
        async with self._auth_lock:
            if method == "token":
                await self._adopt_token(client)
            state = self._state
            if state is not None and state.renewal_due() and state.can_renew():
                await self._renew(client, state)
            if method != "token" and self._needs_login():
                await self._login(client, method)
            self._publish_ttl()
            if self._state is not None and self._state.expired():
                raise self._expired_error()

    def _needs_login(self) -> bool:
        """Login methods log in again instead of failing once renewal cannot help."""
        s = self._state
        return s is None or s.expired() or (s.renewal_due() and not s.can_renew())

    async def _adopt_token(self, client: hvac.Client) -> None:
        raw = self.read(self.auth_conf["token"], "fromCp.auth.token")
        if raw == self._token_bytes:
            return
        token = raw.decode(errors="replace").strip()
        if not token:
            raise BackendError(f"{describe(self.auth_conf['token'])} is empty: put a Vault token in it",
                               retryable=False, field_path=self._field("auth.token"))
        client.token = token
        self._token_bytes = raw
        self._state = None
        try:
            data = await self._call("lookup", _lookup_self, client, field_rel="auth.token")
        except BackendError:
            self._token_bytes = None  # look it up again next time
            raise
        if data is not None:
            self._state = TokenState.from_lookup(data)

    async def _renew(self, client: hvac.Client, state: TokenState) -> None:
        renew = functools.partial(client.adapter.post, "/v1/auth/token/renew-self",
                                  json={"increment": f"{math.ceil(state.period)}s"})
        try:
            resp = await self._call("renew", renew, field_rel="auth")
        except BackendError as e:
            if not e.retryable:
                state.refused(e.message)
            elif state.expired():
                raise
            return
        state.renewed(resp.get("auth") or {}, resp.get("warnings"))
        log.info("renewed vault token of mesh %s backend %s: %.0fs left", self.mesh, self.name,
                 state.remaining() or 0)

    async def _login(self, client: hvac.Client, method: str) -> None:
        fn: Callable[..., dict[str, Any]]
        args: tuple[Any, ...]
        if method == "tls":
            fn, args, rel = vault_auth.cert_login, (client,), "auth.tls"
        else:
            fn, args, rel = vault_auth.aws_login, (client, self.auth_conf["aws"] or {}, self._ec2_nonce), "auth.aws"
        try:
            auth = await self._call("login", fn, *args, field_rel=rel)
        except vault_auth.AuthSetupError as e:
            raise BackendError(str(e), retryable=True, field_path=self._field(rel)) from None
        client.token = auth["client_token"]
        self._state = TokenState.from_auth(auth)

    def _expired_error(self, vault_said: str = "") -> BackendError:
        reason = self._state.not_renewable_reason if self._state else ""
        detail = "; ".join(x for x in (reason, vault_said) if x) or "it expired"
        where = describe(self.auth_conf.get("token") or {})
        return BackendError(
            f"vault token expired and cannot be renewed: {detail}; put a new token in {where}",
            retryable=False, field_path=self._field("auth.token"),
        )

    def _start_renewer(self) -> None:
        if self._renewer is None and not self._closed and self.auth_method not in ("agent", "none"):
            self._renewer = asyncio.get_running_loop().create_task(
                self._renew_loop(), name=f"vault-renew-{self.mesh}-{self.name}")

    async def _renew_loop(self) -> None:
        while not self._closed:
            due = self._state.seconds_until_due() if self._state else None
            wait = RENEW_CHECK_MAX_INTERVAL if due is None else due
            await asyncio.sleep(min(RENEW_CHECK_MAX_INTERVAL, max(RENEW_CHECK_MIN_INTERVAL, wait)))
            if self._closed:
                return
            try:
                await self._ensure_auth()
                self._last_background_error = ""
            except BackendError as e:
                if not self._closed and e.message != self._last_background_error:
                    log.warning("vault backend %s of mesh %s: %s", self.name, self.mesh, e.message)
                self._last_background_error = e.message
                if self._state is not None and self._state.expired():
                    # Nothing to renew; check now and then whether the token secret changed.
                    await asyncio.sleep(RENEW_CHECK_MAX_INTERVAL)

    # -- issuing ------------------------------------------------------------------
    def _issue_body(self, identity: Identity, lifetime_seconds: float) -> dict[str, str | bool]:
        body: dict[str, str | bool] = {
            "uri_sans": ",".join(identity.uri_sans()),
            "ttl": f"{max(1, math.ceil(lifetime_seconds))}s",
            "format": "pem",
            "private_key_format": "pkcs8",
        }
        cn = render_common_name(self.from_cp.get("commonName") or "", identity)
        if cn:
            # The CN stays in the subject only: SANs are exactly the identity's URIs, as with builtin.
            body["common_name"] = cn
            body["exclude_cn_from_sans"] = True
        return body

    async def issue(self, identity: Identity, lifetime_seconds: float) -> IssuedCert:
        await self._ensure_auth()
        self._start_renewer()
        client = self._get_client()
        post = functools.partial(client.adapter.post, f"/v1/{self.pki}/issue/{self.role}",
                                 json=self._issue_body(identity, lifetime_seconds))
        try:
            resp = await self._call("issue", post, field_rel="role")
        except BackendError as e:
            if self.auth_method == "token" and self._state is not None and self._state.expires_within(1.0):
                raise self._expired_error(e.message) from None
            raise
        return self._to_issued(resp.get("data") or {})

    def _to_issued(self, data: dict[str, Any]) -> IssuedCert:
        chain = tuple(data.get("ca_chain") or [data.get("issuing_ca", "")])
        if self._chain_cache is None or self._chain_cache[0] != chain:  # parse once per CA chain
            self._chain_cache = (chain, split_chain(list(chain)))
        intermediates, roots = self._chain_cache[1]
        leaf = data["certificate"].strip() + "\n"
        self._roots = (time.monotonic(), roots)
        return IssuedCert(leaf + "".join(intermediates), data["private_key"].strip() + "\n", roots, backend=self.name)

    async def root_certs(self) -> list[str]:
        cached = self._roots
        if cached and time.monotonic() - cached[0] < ROOTS_CACHE_SECONDS:
            return list(cached[1])
        client = self._get_client()
        text = await self._call("roots", self._read_ca_chain, client, field_rel="pki")
        _, roots = split_chain([text])
        if not roots:
            raise BackendError(f'vault PKI "{self.pki}" has no CA certificate: generate or set one '
                               f"(see `mzsim vault setup`)", retryable=False, field_path=self._field("pki"))
        self._roots = (time.monotonic(), roots)
        return list(roots)

    def _read_ca_chain(self, client: hvac.Client) -> str:
        """`{pki}/ca_chain` (PEM, unauthenticated), else `{pki}/ca/pem`."""
        for path in (f"/v1/{self.pki}/ca_chain", f"/v1/{self.pki}/ca/pem"):
            resp = client.adapter.get(path)
            text = getattr(resp, "text", "") or ""
            if "BEGIN CERTIFICATE" in text:
                return text
        return ""

    async def close(self) -> None:
        self._closed = True
        if self._ttl_gauge is not None:  # the token is no longer ours to watch: drop its series
            self._ttl_gauge.remove(mesh=self.mesh, backend=self.name)
        task, self._renewer = self._renewer, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping, nothing to report
                pass
        client, self._client = self._client, None
        self._pool.shutdown(wait=False, cancel_futures=True)
        if client is not None:
            client.adapter.close()
        self._files.remove_all()


Backend = VaultBackend
