"""AWS auth (IAM and EC2). OpenBao has no aws auth method, so a small local
HTTP server stands in front of OpenBao: it records `auth/aws/login` and answers
with a real OpenBao token, forwards every other /v1 call to OpenBao, and serves
IMDSv2 for the EC2 login. The signed STS request is checked by recomputing its
SigV4 signature independently. (Untested against a real Vault aws method.)"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from urllib.parse import urlsplit

import aiohttp
import pytest
import requests
from aiohttp import web

from common.x509util import Identity, verify_chain
from mzsim.waiting import async_wait_until

from .conftest import ROOT_TOKEN, vault_spec

ACCESS_KEY = "AKIDMZSIMTEST0000000"
SECRET_KEY = "mzsim/test/secret/key/not/a/real/one000000"
PKCS7_LINES = ("MIAGCSqGSIb3DQEHAqCAMIACAQExCzAJBgUrDgMCGgUAMIAGCSqGSIb3DQEHAaCAJIAEggHbewog\n"
               "ICJhY2NvdW50SWQiIDogIjEyMzQ1Njc4OTAxMiIsCiAgImFyY2hpdGVjdHVyZSIgOiAieDg2XzY0\n")
IMDS_TOKEN = "imds-session-token"


class VaultFront:
    """Records aws logins, proxies the rest to OpenBao, and plays IMDSv2."""

    def __init__(self, bao, policy: str, token_ttl: str):
        self.bao, self.policy, self.token_ttl = bao, policy, token_ttl
        self.logins: list[dict] = []
        self.imds_calls: list[str] = []
        self.address = ""

    def _create_token(self) -> dict:
        resp = requests.post(f"{self.bao.address}/v1/auth/token/create", headers={"X-Vault-Token": ROOT_TOKEN},
                             json={"policies": [self.policy], "ttl": self.token_ttl, "renewable": False}, timeout=10)
        resp.raise_for_status()
        return resp.json()["auth"]

    async def login(self, request: web.Request) -> web.Response:
        self.logins.append(await request.json())
        return web.json_response({"auth": self._create_token()})

    async def proxy(self, request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-vault-")}
        async with aiohttp.ClientSession() as http:
            async with http.request(request.method, f"{self.bao.address}{request.path_qs}", headers=headers,
                                    data=await request.read()) as resp:
                return web.Response(status=resp.status, body=await resp.read(),
                                    content_type=resp.content_type)

    async def imds_token(self, request: web.Request) -> web.Response:
        self.imds_calls.append(f"PUT ttl={request.headers.get('X-aws-ec2-metadata-token-ttl-seconds')}")
        return web.Response(text=IMDS_TOKEN)

    async def imds_pkcs7(self, request: web.Request) -> web.Response:
        if request.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
            return web.Response(status=401)
        self.imds_calls.append("GET pkcs7")
        return web.Response(text=PKCS7_LINES)


@pytest.fixture
async def front(bao, pki):
    fronts = []

    async def start(token_ttl: str = "1h") -> VaultFront:
        f = VaultFront(bao, pki.policy, token_ttl)
        app = web.Application()
        app.router.add_post("/v1/auth/aws/login", f.login)
        app.router.add_put("/latest/api/token", f.imds_token)
        app.router.add_get("/latest/dynamic/instance-identity/pkcs7", f.imds_pkcs7)
        app.router.add_route("*", "/v1/{tail:.*}", f.proxy)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        f.address = f"http://127.0.0.1:{port}"
        fronts.append(runner)
        return f

    yield start
    for runner in fronts:
        await runner.cleanup()


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Credentials for botocore's default chain, and nothing else it could find."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def sigv4(secret: str, method: str, url: str, headers: dict, signed: list[str], body: str,
          amz_date: str, scope: str) -> str:
    """AWS Signature Version 4, written out from the spec."""
    parts = urlsplit(url)
    values = {k.lower(): v for k, v in headers.items()}
    values.setdefault("host", parts.netloc)
    canonical = "\n".join([method, parts.path or "/", parts.query,
                           "".join(f"{h}:{values[h].strip()}\n" for h in signed), ";".join(signed),
                           hashlib.sha256(body.encode()).hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


async def test_iam_login_sends_a_signed_get_caller_identity(front, pki, aws_env, make_backend, mesh_name):
    f = await front()
    spec = vault_spec(f.address, pki.pki, pki.role,
                      auth={"aws": {"type": "IAM", "role": "mesh-cp", "iamServerIdHeader": "vault.example.com"}})
    backend = make_backend(mesh_name, spec)
    cert = await backend.issue(Identity(mesh_name, "dp", {"kuma.io/service": ["web"]}), 600)
    verify_chain(cert.cert_pem, await backend.root_certs())  # the login's token issued for real

    assert len(f.logins) == 1
    login = f.logins[0]
    assert login["role"] == "mesh-cp"
    assert login["iam_http_request_method"] == "POST"
    url = base64.b64decode(login["iam_request_url"]).decode()
    body = base64.b64decode(login["iam_request_body"]).decode()
    headers = {k: v[0] for k, v in json.loads(base64.b64decode(login["iam_request_headers"])).items()}
    assert url == "https://sts.eu-west-1.amazonaws.com/"
    assert body == "Action=GetCallerIdentity&Version=2011-06-15"
    assert headers["X-Vault-AWS-IAM-Server-ID"] == "vault.example.com"

    auth = headers["Authorization"]
    algorithm, rest = auth.split(" ", 1)
    fields = dict(p.strip().split("=", 1) for p in rest.split(","))
    assert algorithm == "AWS4-HMAC-SHA256"
    access_key, date, region, service, terminator = fields["Credential"].split("/")
    assert (access_key, region, service, terminator) == (ACCESS_KEY, "eu-west-1", "sts", "aws4_request")
    signed = fields["SignedHeaders"].split(";")
    assert "x-vault-aws-iam-server-id" in signed and "host" in signed and "x-amz-date" in signed
    amz_date = headers["X-Amz-Date"]
    assert amz_date.startswith(date) and amz_date.startswith(dt.datetime.now(dt.UTC).strftime("%Y%m%d"))
    expected = sigv4(SECRET_KEY, "POST", url, headers, signed, body, amz_date, f"{date}/eu-west-1/sts/aws4_request")
    assert fields["Signature"] == expected
    assert SECRET_KEY not in json.dumps(login)


async def test_ec2_login_posts_the_identity_document_and_keeps_its_nonce(front, pki, aws_env, monkeypatch,
                                                                        make_backend, mesh_name):
    f = await front(token_ttl="2s")  # short, not renewable: the backend must log in again
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f.address + "/")
    spec = vault_spec(f.address, pki.pki, pki.role, auth={"aws": {"type": "EC2", "role": "mesh-cp-ec2"}})
    backend = make_backend(mesh_name, spec)
    ident = Identity(mesh_name, "dp", {"kuma.io/service": ["web"]})
    await backend.issue(ident, 600)
    assert f.imds_calls == ["PUT ttl=21600", "GET pkcs7"]
    first = f.logins[0]
    assert first["pkcs7"] == PKCS7_LINES.replace("\n", "")
    assert first["role"] == "mesh-cp-ec2"
    assert first["nonce"]

    # Renewal cannot help a non-renewable token: the backend logs in again before it
    # expires (in the background), with the same nonce, and keeps issuing.
    await async_wait_until(lambda: len(f.logins) >= 2, timeout=10, what="second login")
    await backend.issue(ident, 600)
    assert backend.token_ttl_remaining() > 0
    assert {login["nonce"] for login in f.logins} == {first["nonce"]}
