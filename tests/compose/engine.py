"""The container engine and compose driver the compose test drives: `docker
compose` (v2: it has --wait) against whatever DOCKER_HOST names (Docker, or the
podman socket compose/local-engine.sh starts), plus a read of the engine's own
Docker API to list what a compose project left behind."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPOSE_DIR = os.path.join(REPO, "compose")


class EngineMissing(Exception):
    pass


def compose_command() -> list[str]:
    """MZSIM_COMPOSE (e.g. "docker-compose"), else `docker compose`, else a v2 `docker-compose`."""
    if os.environ.get("MZSIM_COMPOSE"):
        return os.environ["MZSIM_COMPOSE"].split()
    candidates = [["docker", "compose"], ["docker-compose"]]
    for cmd in candidates:
        if shutil.which(cmd[0]) is None:
            continue
        out = subprocess.run([*cmd, "version", "--short"], capture_output=True, text=True, timeout=30)
        major = out.stdout.strip().lstrip("v").split(".")[0]
        if out.returncode == 0 and major.isdigit() and int(major) >= 2:
            return cmd
    raise EngineMissing("no docker compose v2 found: on a machine without Docker run "
                        "`bash compose/local-engine.sh` and export what it prints")


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self.path)


def engine_get(path: str) -> object:
    """GET on the engine's Docker API (unix socket from DOCKER_HOST, default /var/run/docker.sock)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        raise EngineMissing(f"DOCKER_HOST={host}: only unix:// sockets are supported by this test")
    conn = _UnixHTTP(host[len("unix://"):])
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read(10 * 1024 * 1024)
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError(f"engine GET {path}: HTTP {resp.status}: {body[:300]!r}")
    return json.loads(body)


def leftovers(project: str) -> dict[str, list[str]]:
    """Containers, networks and volumes labelled with the compose project."""
    f = urllib.parse.quote(json.dumps({"label": [f"com.docker.compose.project={project}"]}))
    containers = engine_get(f"/containers/json?all=1&filters={f}")
    networks = engine_get(f"/networks?filters={f}")
    volumes = engine_get(f"/volumes?filters={f}")
    assert isinstance(containers, list) and isinstance(networks, list) and isinstance(volumes, dict)
    return {"containers": [c["Names"][0] for c in containers], "networks": [n["Name"] for n in networks],
            "volumes": [v["Name"] for v in volumes.get("Volumes") or []]}


class Compose:
    """`docker compose -p PROJECT` in compose/, with output streamed as progress."""

    def __init__(self, project: str, env: dict[str, str]):
        self.cmd = [*compose_command(), "-p", project]
        self.project = project
        self.env = {**os.environ, **env}

    def run(self, *args: str, timeout: float = 600, stream: bool = False, check: bool = True) -> str:
        started = time.monotonic()
        proc = subprocess.Popen([*self.cmd, *args], cwd=COMPOSE_DIR, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        lines = []
        assert proc.stdout is not None
        try:
            for line in proc.stdout:  # bounded below by the overall timeout
                lines.append(line)
                if stream:
                    print(f"[compose {time.monotonic() - started:5.0f}s] {line.rstrip()}", file=sys.stderr, flush=True)
                if time.monotonic() - started > timeout:
                    proc.kill()
                    raise TimeoutError(f"compose {' '.join(args)} took over {timeout:.0f}s")
            rc = proc.wait(timeout=max(1.0, timeout - (time.monotonic() - started)))
        finally:
            if proc.poll() is None:
                proc.kill()
        out = "".join(lines)
        if check and rc != 0:
            raise RuntimeError(f"compose {' '.join(args)} exited {rc}:\n{out[-4000:]}")
        return out
