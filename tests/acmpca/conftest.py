"""Real ACM PCA endpoints for the acmpca backend tests: `mzsim acmpca serve`
(moto, fixed, with faults) over HTTP and over TLS, and stock `moto_server`,
each a subprocess on a free loopback port. The AWS environment of this
package is emptied (no credentials, profiles, endpoints or instance metadata),
so every test says where its credentials come from."""
from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from dataclasses import dataclass, field

import pytest

from common.ca.acmpca import AcmpcaSettings
from common.ca.settings import BackendSettings
from mzsim.launcher import Proc
from mzsim.setup.acmpca import SetupResult, setup_acmpca
from mzsim.waiting import free_port, wait_until
from tests.support.backends import Backends

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETUP_KEY = "AKIASETUPSETUPSETUP0"
# Fast retries: the tests wait on outcomes, not on backoff.
FAST = {"backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.05, "get_wait_seconds": 2.0}
_AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                  "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ACM_PCA", "AWS_REGION",
                  "AWS_DEFAULT_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


@pytest.fixture(scope="package", autouse=True)
def empty_aws_environment(tmp_path_factory):
    missing = str(tmp_path_factory.mktemp("aws") / "absent")
    with pytest.MonkeyPatch.context() as mp:
        for name in _AWS_VARIABLES:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_CONFIG_FILE", missing)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", missing)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@dataclass
class AcmServer:
    """One ACM PCA server process: the launcher, or stock moto_server."""

    port: int
    workdir: str
    stock: bool = False
    tls_dir: str = ""
    proc: Proc | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls_dir else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> str:
        return os.path.join(self.tls_dir, "ca.pem") if self.tls_dir else ""

    def process(self) -> Proc:
        log = os.path.join(self.workdir, "server.log")
        if self.stock:
            moto = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
            return Proc(["-H", "127.0.0.1", "-p", str(self.port)], log, program=moto, cwd=REPO)
        tls = ["--tls-cert-dir", self.tls_dir] if self.tls_dir else []
        return Proc(["acmpca", "serve", "--port", str(self.port), *tls], log, cwd=REPO)

    def start(self, timeout: float = 30.0) -> None:
        proc = self.proc = self.process().start()
        path = "/moto-api/" if self.stock else "/_requests"
        # Up, or exited: either ends the wait.
        wait_until(lambda: proc.exited() or self._get(path, timeout=1) is not None, timeout,
                   interval=0.05, what=f"ACM PCA server at {self.endpoint}")
        if proc.exited():
            raise AssertionError(f"server exited with {proc.returncode()}; see {self.workdir}/server.log")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def _open(self, method: str, path: str, body: dict | None = None, timeout: float = 5):
        import ssl

        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.tls_dir else None
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.read()

    def _get(self, path: str, timeout: float = 5):
        return self._open("GET", path, timeout=timeout)

    # -- the launcher's test API --------------------------------------------------
    def fault(self, target: str, code: str, count: int = 1, **extra) -> None:
        self._open("POST", "/_faults", {"target": f"ACMPrivateCA.{target}", "code": code, "count": count, **extra})

    def clear_faults(self) -> None:
        self._open("DELETE", "/_faults")

    def requests(self, target: str = "") -> list[dict]:
        entries = json.loads(self._get("/_requests"))["requests"]
        return [e for e in entries if not target or e["target"] == f"ACMPrivateCA.{target}"]

    def clear_requests(self) -> None:
        self._open("DELETE", "/_requests")

    def setup_ca(self, **kwargs) -> SetupResult:
        kwargs.setdefault("key_algorithm", "EC_prime256v1")
        return setup_acmpca(self.endpoint, "us-east-1", access_key=SETUP_KEY, secret_key="setup-secret",
                            ca_cert=self.ca_file or None, **kwargs)


def _server(tmp_path_factory, name: str, **kwargs) -> AcmServer:
    workdir = str(tmp_path_factory.mktemp(name))
    server = AcmServer(free_port(), workdir, **kwargs)
    server.start()
    return server


@pytest.fixture(scope="session")
def acm(tmp_path_factory):
    server = _server(tmp_path_factory, "acmpca")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def acm_tls(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("acmpca-tls")
    server = AcmServer(free_port(), str(workdir), tls_dir=str(workdir / "tls"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stock_moto(tmp_path_factory):
    server = _server(tmp_path_factory, "moto-stock", stock=True)
    yield server
    server.stop()


@pytest.fixture
def acm_restartable(tmp_path):
    """A launcher of this test's own, to stop and start again on its port."""
    server = AcmServer(free_port(), str(tmp_path))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ca(acm) -> SetupResult:
    """An ACTIVE EC P-256 root CA shared by the tests that only issue from it."""
    return acm.setup_ca()


@pytest.fixture(autouse=True)
def no_faults_left(request):
    yield
    if "acm" in request.fixturenames:
        request.getfixturevalue("acm").clear_faults()


MESH = "acm-mesh"


def acmpca_spec(arn: str, *, auth: dict | None = None, name: str = "acmpca-1", **conf) -> dict:
    conf = {"arn": arn, **conf}
    if auth is not None:
        conf["auth"] = auth
    return {"name": name, "type": "acmpca", "dpCert": {"rotation": {"expiration": "1h"}}, "conf": conf}


def secret_auth(access: str = "aws-access-key", secret_key: str = "aws-secret-key") -> dict:
    return {"awsCredentials": {"accessKey": {"secret": access}, "accessKeySecret": {"secret": secret_key}}}


@pytest.fixture
def creds(secrets):
    """Puts an access key pair in the mesh's secrets; returns the access key id."""
    def _put(access_key: str = "AKIAFROMSECRET000001", mesh: str = MESH) -> str:
        secrets.put(mesh, "aws-access-key", access_key)
        secrets.put(mesh, "aws-secret-key", "secret-" + access_key)
        return access_key

    return _put


@pytest.fixture
async def make_backend(secrets, metrics):
    """Build acmpca backends; all are closed when the test ends."""
    backends = Backends(secrets, metrics)

    def _make(spec: dict, endpoint: str | None, mesh: str = MESH, dp_key_type: str = "ec", **opts):
        settings = AcmpcaSettings(**{**FAST, **opts}, endpoint_url=endpoint or "")
        return backends.build(mesh, spec, settings=BackendSettings(acmpca=settings), dp_key_type=dp_key_type)

    yield _make
    await backends.close_all()
