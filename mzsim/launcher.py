"""Start real mzsim processes (global, zones, helpers) and talk to their APIs.

Shared by `mzsim demo`, the scenario runner and the multi-process tests."""
from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from mzsim.api_client import request
from mzsim.waiting import WaitTimeout, free_port, free_port_range, wait_port, wait_until


def http(method: str, url: str, body=None, *, timeout: float = 10.0, content_type: str = "application/json",
         token: str = "", ca_file: str = ""):
    """(status, parsed JSON or text). Never raises for HTTP error statuses. `token`:
    a user token for global's API (without one, loopback callers are admin)."""
    status, data = request(method, url, body, token=token, ca_file=ca_file, timeout=timeout,
                           content_type=content_type)
    raw = data.decode(errors="replace")
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


@dataclass
class Proc:
    """A child process in its own session (so a kill takes its children too), its
    output appended to `log_path`. `args` are mzsim's arguments, unless `program`
    names another executable (bao, moto_server)."""

    args: list[str]
    log_path: str
    env: dict = field(default_factory=dict)
    popen: subprocess.Popen | None = None
    program: str | None = None
    cwd: str | None = None

    def start(self) -> Proc:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self._log = open(self.log_path, "ab")
        argv = [self.program, *self.args] if self.program else [sys.executable, "-m", "mzsim", *self.args]
        self.popen = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env, cwd=self.cwd, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def exited(self) -> bool:
        """Started and gone (a crash at start-up ends a wait early)."""
        return self.popen is not None and self.popen.poll() is not None

    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=15)
        self._close_log()

    def stop(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def _close_log(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()

    def log(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class Global:
    def __init__(self, workdir: str, extra_args: list[str] | None = None, env: dict | None = None):
        self.workdir = workdir
        self.api_port, self.kds_port = free_port(), free_port()
        self.data_dir = os.path.join(workdir, "global")
        self.extra_args = extra_args or []
        self.env = {"MZSIM_KDS_HEARTBEAT_INTERVAL": "300ms", "MZSIM_KDS_LIVENESS_TIMEOUT": "2s", **(env or {})}
        self.proc: Proc | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def kds_tls(self) -> bool:
        """KDS is wss:// unless turned off (kds.tls.enabled: false)."""
        return self.env.get("MZSIM_KDS_TLS_ENABLED", "true").lower() not in ("0", "false", "no", "off")

    @property
    def kds_ca(self) -> str:
        """The CA global generates for its KDS certificate."""
        return os.path.join(self.data_dir, "kds-ca.crt")

    def kds_ssl(self) -> ssl.SSLContext | None:
        """A client TLS context trusting global's generated KDS CA (None for plain ws://)."""
        return ssl.create_default_context(cafile=self.kds_ca) if self.kds_tls else None

    def kds_url(self, port: int) -> str:
        """The address a zone dials to reach global's KDS through `port` (global's, or a proxy's)."""
        return f"{'wss' if self.kds_tls else 'ws'}://127.0.0.1:{port}"

    @property
    def kds(self) -> str:
        return self.kds_url(self.kds_port)

    def start(self) -> Global:
        self.proc = Proc(["global", "--api-port", str(self.api_port), "--kds-port", str(self.kds_port),
                          "--data-dir", self.data_dir, *self.extra_args],
                         os.path.join(self.workdir, "global.log"), self.env).start()
        wait_port(self.api_port)
        wait_port(self.kds_port)
        return self

    def admin_token(self) -> str:
        """The admin user token global wrote on first start."""
        with open(os.path.join(self.data_dir, "admin-user-token")) as f:
            return f.read().strip()

    def token(self, zone: str, valid_for: str = "1h") -> str:
        status, body = http("POST", self.api + "/tokens/zone", {"zone": zone, "validFor": valid_for})
        assert status == 200, body
        return body

    def token_file(self, zone: str) -> str:
        path = os.path.join(self.workdir, f"{zone}.token")
        with open(path, "w") as f:
            f.write(self.token(zone))
        return path

    def get(self, path: str):
        return http("GET", self.api + path)

    def put(self, path: str, body, content_type: str = "application/json"):
        return http("PUT", self.api + path, body, content_type=content_type)

    def delete(self, path: str):
        return http("DELETE", self.api + path)

    def zone_status(self, name: str) -> dict | None:
        status, body = self.get("/status/zones")
        if status != 200:
            return None
        return next((z for z in body if z["name"] == name), None)


class Zone:
    def __init__(self, workdir: str, name: str, glob: Global | None, extra_args: list[str] | None = None,
                 env: dict | None = None, token_file: str | None = None, kds_address: str | None = None):
        self.workdir = workdir
        self.name = name
        self.glob = glob
        self.extra_args = extra_args or []
        # `--count N` runs N zones on N consecutive API ports: reserve the whole range.
        count = int(self.extra_args[self.extra_args.index("--count") + 1]) if "--count" in self.extra_args else 1
        self.api_port = free_port_range(count) if count > 1 else free_port()
        self.data_dir = os.path.join(workdir, "zones")
        self.env = {"MZSIM_KDS_HEARTBEAT_INTERVAL": "300ms", "MZSIM_KDS_LIVENESS_TIMEOUT": "2s",
                    "MZSIM_KDS_RECONNECT_BASE": "200ms", "MZSIM_KDS_RECONNECT_CAP": "1s", **(env or {})}
        self.token_file = token_file
        self.kds_address = kds_address  # dial this instead of global's KDS (e.g. a fault proxy)
        self.proc: Proc | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> Zone:
        args = ["zone", "--name", self.name, "--api-port", str(self.api_port), "--data-dir", self.data_dir]
        if self.glob is not None:
            args += ["--global-address", self.kds_address or self.glob.kds]
            if self.token_file is None:
                self.token_file = self.glob.token_file(self.name)
            args += ["--token-file", self.token_file]
            if self.glob.kds_tls and not {"--kds-ca-cert", "--kds-tls-skip-verify"} & set(self.extra_args):
                args += ["--kds-ca-cert", self.glob.kds_ca]
        self.proc = Proc(args + self.extra_args, os.path.join(self.workdir, f"{self.name}.log"), self.env).start()
        wait_port(self.api_port)
        return self

    def get(self, path: str):
        return http("GET", self.api + path)

    def put(self, path: str, body):
        return http("PUT", self.api + path, body)

    def delete(self, path: str):
        return http("DELETE", self.api + path)

    def status(self) -> dict:
        return self.get("/status")[1]

    def mesh_names(self) -> list[str]:
        status, body = self.get("/meshes")
        return sorted(m["name"] for m in body["items"]) if status == 200 else []


def new_workdir(prefix: str = "mzsim-test-") -> str:
    return tempfile.mkdtemp(prefix=prefix)


def wait_connected(zone: Zone, timeout: float = 20.0) -> dict:
    return wait_until(lambda: zone.status().get("connected") and zone.status(), timeout,
                      what=f"zone {zone.name} connected")


def wait_zones_online(g: Global, names: list[str], timeout: float) -> None:
    """Wait until every zone in `names` is active on global at once. On timeout the error
    names the zones that are not, with their last disconnect reason and heartbeat."""
    missing: list[str] = []

    def all_online() -> bool:
        status, body = g.get("/status/zones")
        if status != 200:
            return False
        by_name = {z["name"]: z for z in body}
        missing[:] = [f"{n} ({_offline_why(by_name.get(n))})" for n in names
                      if not (by_name.get(n) or {}).get("active")]
        return not missing

    try:
        wait_until(all_online, timeout, what=f"{len(names)} zones online")
    except WaitTimeout as e:
        raise WaitTimeout(f"{e}; {len(missing)} not: {', '.join(missing[:10])}") from None


def _offline_why(z: dict | None) -> str:
    if z is None:
        return "never connected"
    return (f"disconnected {z.get('disconnectTime')}: {z.get('disconnectReason') or '-'}; "
            f"last heartbeat {z.get('lastHeartbeat')}")


def watch_resync(g: Global, zones: int, timeout: float, interval: float = 0.2) -> dict:
    """After a global (re)start: sample how many zones global has active and in sync
    until all `zones` are, or `timeout`. Returns the series and two verdicts:
    `seconds` to all in sync (None if never) and `largest_drop` (the most the
    in-sync count fell below its running peak; 0 means it only ever went up)."""
    t0, series, peak, drop = time.monotonic(), [], 0, 0
    while True:
        elapsed = time.monotonic() - t0
        status, body = http("GET", g.api + "/status/zones", timeout=30)
        if status == 200:
            in_sync = sum(1 for z in body if z.get("active") and z.get("inSync"))
            series.append((round(elapsed, 2), in_sync))
            peak = max(peak, in_sync)
            drop = max(drop, peak - in_sync)
            if in_sync >= zones:
                return {"seconds": round(elapsed, 2), "largest_drop": drop, "series": series}
        if elapsed > timeout:
            return {"seconds": None, "largest_drop": drop, "series": series}
        time.sleep(interval)
