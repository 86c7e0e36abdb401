"""`file` data sources on global: regular files only, bounded, and nothing read
from any data source ever appears in a response or a log line."""
from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from common import datasource, redact
from common.errors import BackendError, DataSourceError, error_text


def provided_mesh(name: str, cert: dict, key: dict | None = None) -> dict:
    return {"type": "Mesh", "name": name, "mtls": {"enabledBackend": "ca-1", "backends": [
        {"name": "ca-1", "type": "provided", "conf": {"cert": cert, "key": key or {"inlineString": "x"}}}]}}


@pytest.fixture
def big_and_fifo(tmp_path):
    big = tmp_path / "big.pem"
    with open(big, "wb") as f:
        f.truncate(2 * 1024 * 1024)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return str(big), str(fifo)


@pytest.mark.parametrize("which,expect", [("/dev/zero", "not a regular file"), ("big", "larger than 1048576"),
                                          ("fifo", "not a regular file"), ("/", "not a regular file"),
                                          ("/no/such/file", "No such file")])
def test_file_sources_are_regular_bounded_files(hostile, big_and_fifo, which, expect):
    path = {"big": big_and_fifo[0], "fifo": big_and_fifo[1]}.get(which, which)
    status, resp = hostile.timed(lambda: hostile.g.put("/meshes/f", provided_mesh("f", {"file": path})))
    assert status == 400, resp
    cause = resp["causes"][0]
    assert "conf.cert.file" in cause["message"] and path in cause["message"] and expect in cause["message"], resp
    assert hostile.g.get("/meshes/f")[0] == 404
    hostile.intact()


def test_file_content_never_quoted(hostile, tmp_path):
    secret_file = tmp_path / "hostname"
    secret_file.write_text("very-private-host-content-4711\n")
    status, resp = hostile.g.put("/meshes/f", provided_mesh("f", {"file": str(secret_file)}))
    assert status == 400, resp
    assert "conf.cert" in json.dumps(resp)
    assert "very-private-host-content-4711" not in json.dumps(resp)
    assert "very-private-host-content-4711" not in hostile.g.proc.log()
    hostile.intact()


class _EchoVault(BaseHTTPRequestHandler):
    """A 'vault' that quotes the token it was sent in its error, as a careless server might."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"errors": [f"permission denied: token {self.headers.get('X-Vault-Token')!r} "
                                      "is not allowed"]}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.seen.append(self.headers.get("X-Vault-Token"))  # type: ignore[attr-defined]

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def echo_vault():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoVault)
    server.seen = []  # type: ignore[attr-defined]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("source", ["file", "inlineString", "secret"])
def test_a_backend_that_echoes_the_token_cannot_leak_it(hostile, echo_vault, tmp_path, source):
    token = f"hvs.TOPSECRET-{source}-0123456789"
    if source == "file":
        path = tmp_path / "token"
        path.write_text(token + "\n")
        ds = {"file": str(path)}
    elif source == "secret":
        import base64
        assert hostile.g.put("/meshes/keep/secrets/vt", {"type": "Secret", "mesh": "keep", "name": "vt",
                                                          "data": base64.b64encode(token.encode()).decode()})[0] == 201
        ds = {"secret": "vt"}
    else:
        ds = {"inlineString": token}
    mesh = "keep" if source == "secret" else "v"
    body = {"type": "Mesh", "name": mesh, "mtls": {"enabledBackend": "v1", "backends": [
        {"name": "v1", "type": "vault", "conf": {"fromCp": {
            "address": f"http://127.0.0.1:{echo_vault.server_address[1]}", "pki": "pki", "role": "r",
            "auth": {"token": ds}}}}]}}
    if source == "secret":
        body["logging"] = hostile.g.get("/meshes/keep")[1]["logging"]
    status, resp = hostile.g.put(f"/meshes/{mesh}", body)
    assert echo_vault.seen and echo_vault.seen[0] == token  # the server did get it and quoted it
    assert status == 400, resp
    text = json.dumps(resp)
    assert "permission denied" in text and redact.MASK in text, resp
    assert token not in text
    assert token not in hostile.g.proc.log()
    if source == "secret":
        assert hostile.g.delete("/meshes/keep/secrets/vt")[0] == 200
    hostile.intact()


def test_redaction_in_process(tmp_path):
    p = tmp_path / "t"
    p.write_text("in-process-secret-value-42")
    assert datasource.resolve({"file": str(p)}, "conf.token", "m", None) == b"in-process-secret-value-42"
    err = BackendError("server said: in-process-secret-value-42 is wrong", field_path="conf.token")
    assert "in-process-secret-value-42" not in error_text(err) + str(err) + json.dumps(err.body())
    assert redact.scrub("x in-process-secret-value-42 y") == f"x {redact.MASK} y"
    old = datasource.limits
    datasource.configure(datasource.DataSourceLimits(file_max_bytes=10))
    try:
        with pytest.raises(DataSourceError, match="larger than 10 bytes"):
            datasource.resolve({"file": str(p)}, "conf.token", "m", None)
    finally:
        datasource.configure(old)
