"""OpenBao servers for the vault backend tests: a dev server (session), a dev
TLS server (session, started on first use) and a raft + static-seal server for
restart tests (per test). Every test gets its own PKI mount."""
from __future__ import annotations

import os
import uuid

import pytest
import requests

from common.ca.settings import BackendSettings
from common.ca.vault import VaultSettings
from mzsim.services.openbao import BaoServer, start_dev_server
from mzsim.setup.vault import setup_vault
from mzsim.waiting import free_port
from tests.support.backends import Backends

ROOT_TOKEN = "root"


def _dev_server(tmp_path_factory, name: str, tls: bool) -> BaoServer:
    try:
        return start_dev_server(str(tmp_path_factory.mktemp(name)), tls=tls, root_token=ROOT_TOKEN)
    except FileNotFoundError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def bao(tmp_path_factory):
    server = _dev_server(tmp_path_factory, "bao-dev", tls=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bao_tls(tmp_path_factory):
    server = _dev_server(tmp_path_factory, "bao-dev-tls", tls=True)
    yield server
    server.stop()


RAFT_CONFIG = """
storage "raft" {{
  path = "{data}"
  node_id = "n1"
  performance_multiplier = 1
}}
seal "static" {{
  current_key_id = "k1"
  current_key = "file://{key}"
}}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  tls_disable = true
}}
api_addr = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
disable_mlock = true
"""


@pytest.fixture
def bao_raft(tmp_path):
    """A persistent server that can be stopped and started again on its port."""
    data = tmp_path / "data"
    data.mkdir()
    key = tmp_path / "seal.key"
    key.write_bytes(os.urandom(32))
    port = free_port()
    conf = tmp_path / "config.hcl"
    conf.write_text(RAFT_CONFIG.format(data=data, key=key, port=port, cluster_port=free_port()))
    server = BaoServer(["server", f"-config={conf}"], f"http://127.0.0.1:{port}", str(tmp_path))
    server.start(healthy_codes=(501,))  # up, not initialized yet
    init = requests.put(f"{server.address}/v1/sys/init", json={"recovery_shares": 1, "recovery_threshold": 1},
                        timeout=30)
    init.raise_for_status()
    server.root_token = init.json()["root_token"]
    server.wait_health()
    yield server
    server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def mesh_name():
    return unique("m")


@pytest.fixture
def pki(bao, mesh_name):
    """A root-CA PKI of its own for this test, with an EC role and a token."""
    return setup_vault(bao.address, ROOT_TOKEN, mesh_name, pki=unique("pki"), key_type="ec")


def vault_spec(address: str, pki: str, role: str, *, auth: dict | None = None, name: str = "vault-1",
               **from_cp) -> dict:
    conf = {"address": address, "pki": pki, "role": role, **from_cp}
    if auth is not None:
        conf["auth"] = auth
    return {"name": name, "type": "vault", "dpCert": {"rotation": {"expiration": "1h"}}, "conf": {"fromCp": conf}}


@pytest.fixture
async def make_backend(secrets, metrics):
    """Build vault backends for a mesh; all are closed when the test ends."""
    backends = Backends(secrets, metrics)

    def _make(mesh: str, spec: dict, **settings):
        return backends.build(mesh, spec, settings=BackendSettings(vault=VaultSettings(**settings)))

    yield _make
    await backends.close_all()


def token_auth(secret_name: str = "vault-token") -> dict:
    return {"token": {"secret": secret_name}}
