"""agentAddress sends the auth the mesh names, and never the host's own Vault
credentials (VAULT_TOKEN, ~/.vault-token, ~/.netrc), through a real global
process whose environment holds all three."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mzsim.launcher import Global

AMBIENT = "s.ambient-host-token"


class Capture(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Capture

    def _answer(self) -> None:
        length = min(int(self.headers.get("Content-Length") or 0), 1 << 16)
        self.rfile.read(length)
        self.server.seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        body = json.dumps({"errors": ["permission denied"]}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[Capture]:
    server = Capture()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def ambient_global(cluster, tmp_path, capture):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".vault-token").write_text(AMBIENT)
    (home / ".netrc").write_text("machine 127.0.0.1 login ambient password ambient-netrc-secret\n")
    (home / ".netrc").chmod(0o600)
    return cluster.add(Global(cluster.dir, env={"HOME": str(home), "VAULT_TOKEN": AMBIENT}))


def mesh(agent: str, auth: dict | None) -> dict:
    from_cp: dict = {"address": "http://127.0.0.1:1", "agentAddress": agent, "pki": "pki", "role": "r"}
    if auth is not None:
        from_cp["auth"] = auth
    return {"type": "Mesh", "name": "m", "mtls": {"enabledBackend": "v", "backends": [
        {"name": "v", "type": "vault", "conf": {"fromCp": from_cp}}]}}


def test_agent_gets_the_configured_token_and_never_the_hosts(ambient_global, capture):
    status, body = ambient_global.put("/meshes/m", mesh(capture.url, {"token": {"inlineString": "s.configured"}}))
    assert status == 400 and "permission denied" in json.dumps(body), body
    assert capture.seen, "global never reached the agent"
    assert {r.get("x-vault-token") for r in capture.seen} == {"s.configured"}
    assert not any("authorization" in r for r in capture.seen)
    assert AMBIENT not in ambient_global.proc.log()


def test_agent_without_auth_gets_no_token_at_all(ambient_global, capture):
    status, body = ambient_global.put("/meshes/m", mesh(capture.url, None))
    assert status == 400 and "permission denied" in json.dumps(body), body
    assert capture.seen
    assert not any("x-vault-token" in r or "authorization" in r for r in capture.seen), capture.seen
