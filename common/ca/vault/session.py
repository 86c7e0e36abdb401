"""The HTTP session the vault backend talks through: TLS verification
(caCert / skipVerify), SNI and name checks (serverName), client certificates
(auth.tls) and a connection pool as large as the backend's concurrency.

requests wants certificate and key files, so the PEM bytes from data sources are
written to PrivateFiles (0600), deleted by the backend's close().
"""
from __future__ import annotations

from typing import Any

import requests
import requests.auth
from requests.adapters import HTTPAdapter

from ..private_files import PrivateFiles


class NoAuth(requests.auth.AuthBase):
    """Adds nothing. Set as the session's auth, it keeps requests from adding
    credentials from ~/.netrc: only what the mesh names is sent."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class ServerNameAdapter(HTTPAdapter):
    """Sends `server_name` as SNI and verifies the certificate against it,
    whatever host the URL names (tls.serverName)."""

    def __init__(self, server_name: str = "", **kwargs: Any) -> None:
        self._server_name = server_name
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self._server_name:
            kwargs["server_hostname"] = self._server_name
            kwargs["assert_hostname"] = self._server_name
        super().init_poolmanager(*args, **kwargs)


def build_session(
    files: PrivateFiles,
    *,
    ca_pem: bytes | None = None,
    skip_verify: bool = False,
    server_name: str = "",
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    pool_size: int = 8,
) -> requests.Session:
    session = requests.Session()
    session.auth = NoAuth()
    if skip_verify:
        session.verify = False
    elif ca_pem:
        session.verify = files.write(ca_pem)
    else:
        session.verify = True
    if client_cert_pem and client_key_pem:
        session.cert = (files.write(client_cert_pem), files.write(client_key_pem))
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=pool_size))
    session.mount("https://", ServerNameAdapter(server_name, pool_connections=1, pool_maxsize=pool_size))
    return session
