"""Access control on global's API, against a real global over a real socket.
localhost_is_admin is off, so this test is a remote caller: anonymous unless
it presents a token."""
from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from common.x509util import key_to_pem
from mzsim.launcher import Global, http, new_workdir
from mzsim.waiting import wait_until

MESH = {"type": "Mesh", "name": "m1"}
SECRET = {"type": "Secret", "name": "s1", "mesh": "m1", "data": base64.b64encode(b"x").decode()}
ANON_READS = ["/", "/meshes", "/meshes/m1", "/zones", "/zones/_overview", "/status/zones", "/global-insight",
              "/metrics", "/dashboard", "/meshes/m1/dataplanes/_overview"]


@pytest.fixture(scope="module")
def glob():
    old = os.umask(0o022)  # the default umask would make new files 0644
    g = Global(new_workdir(), env={"MZSIM_API_AUTHN_LOCALHOST_IS_ADMIN": "false",
                                   "MZSIM_ACCESS_STATIC_ADMIN_RESOURCES_GROUPS": "mesh-system:admin,ops"}).start()
    os.umask(old)
    yield g
    g.proc.stop()


def call(g: Global, method: str, path: str, body=None, token: str = ""):
    return http(method, g.api + path, body, token=token)


def user_token(g: Global, name: str, groups: list[str], valid_for: str = "1h") -> str:
    status, body = call(g, "POST", "/tokens/user", {"name": name, "groups": groups, "validFor": valid_for},
                        token=g.admin_token())
    assert status == 200, body
    return body


def test_the_admin_token_file_and_the_data_are_private(glob):
    d = glob.data_dir
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for name in ("admin-user-token", "global.db", "global.db-wal", "zones.db"):
        assert stat.S_IMODE(os.stat(os.path.join(d, name)).st_mode) == 0o600, name
    claims = jwt.decode(glob.admin_token(), options={"verify_signature": False})
    assert claims["name"] == "mesh-system:admin" and claims["groups"] == ["mesh-system:admin"]


def test_the_admin_token_can_do_everything(glob):
    admin = glob.admin_token()
    assert call(glob, "PUT", "/meshes/m1", MESH, admin)[0] in (200, 201)
    assert call(glob, "PUT", "/meshes/m1/secrets/s1", SECRET, admin)[0] in (200, 201)
    status, body = call(glob, "GET", "/meshes/m1/secrets/s1", token=admin)
    assert status == 200 and body["data"] == SECRET["data"]
    assert call(glob, "GET", "/global-secrets", token=admin)[0] == 200
    assert call(glob, "POST", "/tokens/zone", {"zone": "zone-1"}, admin)[0] == 200


def test_anonymous_reads_meshes_and_status_but_nothing_protected(glob):
    call(glob, "PUT", "/meshes/m1", MESH, glob.admin_token())
    for path in ANON_READS:
        assert call(glob, "GET", path)[0] == 200, path
    refused = [("GET", "/meshes/m1/secrets", None), ("GET", "/meshes/m1/secrets/s1", None),
               ("GET", "/global-secrets", None), ("GET", "/global-secrets/zone-token-signing-key-1", None),
               ("PUT", "/meshes/m1/secrets/s1", SECRET), ("DELETE", "/global-secrets/x", None),
               ("POST", "/tokens/zone", {"zone": "zone-1"}), ("POST", "/tokens/user", {"name": "u"}),
               ("PUT", "/meshes/m2", {"type": "Mesh", "name": "m2"}), ("DELETE", "/meshes/m1", None)]
    for method, path, body in refused:
        status, err = call(glob, method, path, body)
        assert status == 401, (method, path, status, err)
        assert err["title"] == "Unauthenticated" and "Bearer" in err["details"], err
    assert call(glob, "GET", "/meshes/m1")[0] == 200  # the refused DELETE did nothing


def test_a_user_token_writes_meshes_but_not_secrets(glob):
    token = user_token(glob, "alice", ["team-a"])
    assert call(glob, "PUT", "/meshes/alice", {"type": "Mesh", "name": "alice"}, token)[0] == 201
    for method, path, body in [("GET", "/meshes/alice/secrets", None), ("GET", "/global-secrets", None),
                               ("POST", "/tokens/zone", {"zone": "zone-1"}),
                               ("POST", "/tokens/user", {"name": "bob", "groups": ["mesh-system:admin"]})]:
        status, err = call(glob, method, path, body, token)
        assert status == 403, (method, path, err)
        assert "alice" in err["details"] and "group mesh-system:admin" in err["details"], err


def test_the_access_lists_are_configuration(glob):
    ops = user_token(glob, "carol", ["ops"])  # ops was added to access.static.admin_resources
    assert call(glob, "GET", "/global-secrets", token=ops)[0] == 200
    status, err = call(glob, "POST", "/tokens/zone", {"zone": "zone-1"}, ops)
    assert status == 403 and "access.static.generate_zone_token" in err["details"]


def test_bad_and_expired_tokens_get_401_with_the_reason(glob):
    status, err = call(glob, "GET", "/meshes", token="not-a-jwt")
    assert status == 401 and "user token is invalid" in err["details"], err
    forged = jwt.encode({"iss": "mzsim-global", "name": "mesh-system:admin", "groups": ["mesh-system:admin"],
                         "iat": 1, "exp": 2**31}, key_to_pem(ec.generate_private_key(ec.SECP256R1())),
                        algorithm="ES256", headers={"kid": "1"})
    status, err = call(glob, "GET", "/global-secrets", token=forged)
    assert status == 401 and "signature is invalid" in err["details"], err
    zone_token = call(glob, "POST", "/tokens/zone", {"zone": "zone-1"}, glob.admin_token())[1]
    assert call(glob, "GET", "/meshes", token=zone_token)[0] == 401  # a zone token is not a user token
    short = user_token(glob, "dave", [], valid_for="1s")
    wait_until(lambda: call(glob, "GET", "/meshes", token=short)[0] == 401, 10, what="token expiry")
    assert "expired" in call(glob, "GET", "/meshes", token=short)[1]["details"]


def test_token_requests_are_checked(glob):
    admin = glob.admin_token()
    for body, field in [({"zone": "../../etc/passwd"}, "zone"), ({"zone": "UPPER Case"}, "zone"),
                        ({"zone": "zöne-ü"}, "zone"), ({"zone": "a" * 64}, "zone"),
                        ({"zone": "zone-1", "validFor": "100000y"}, "validFor")]:
        status, err = call(glob, "POST", "/tokens/zone", body, admin)
        assert status == 400 and err["causes"][0]["field"] == field, (body, err)
    status, err = call(glob, "POST", "/tokens/user", {"name": "x", "validFor": "2y"}, admin)
    assert status == 400 and err["causes"][0]["field"] == "validFor"
    status, err = call(glob, "POST", "/tokens/user", {"name": "x", "groups": "ops"}, admin)
    assert status == 400 and err["causes"][0]["field"] == "groups"


def test_the_cli_takes_a_token_file_or_env(glob, tmp_path):
    def mzsim(*args, env=None):
        return subprocess.run([sys.executable, "-m", "mzsim", *args, "--global-api", glob.api],
                              capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})
    admin_file = os.path.join(glob.data_dir, "admin-user-token")
    r = mzsim("token", "user", "--name", "erin", "--group", "team-b", "--valid-for", "1h",
              "--api-token-file", admin_file)
    assert r.returncode == 0, r.stderr
    assert jwt.decode(r.stdout.strip(), options={"verify_signature": False})["groups"] == ["team-b"]
    r = mzsim("token", "zone", "--zone", "zone-1")
    assert r.returncode == 1 and "(401)" in r.stderr and "--api-token-file" in r.stderr
    mesh = tmp_path / "m.yaml"
    mesh.write_text("type: Mesh\nname: from-cli\n")
    assert mzsim("apply", "-f", str(mesh)).returncode == 1
    r = mzsim("apply", "-f", str(mesh), env={"MZSIM_API_TOKEN": r.stdout.strip() or glob.admin_token()})
    assert r.returncode == 0 and "Mesh from-cli created" in r.stdout, r.stderr
    r = mzsim("apply", "-f", str(mesh), "--api-token-file", str(tmp_path / "missing"))
    assert r.returncode == 2 and "cannot read --api-token-file" in r.stderr


def test_anonymous_read_can_be_turned_off_and_localhost_is_admin_by_default():
    g = Global(new_workdir(), env={"MZSIM_API_AUTHN_ANONYMOUS_READ": "false"}).start()
    try:
        assert call(g, "GET", "/meshes/default/secrets")[0] == 200  # loopback without a token is admin
        assert call(g, "GET", "/meshes", token="garbage")[0] == 401  # a presented token is always checked
        user = call(g, "POST", "/tokens/user", {"name": "u", "groups": []})[1]
        assert call(g, "GET", "/meshes", token=user)[0] == 200
    finally:
        g.proc.stop()
    g2 = Global(new_workdir(), env={"MZSIM_API_AUTHN_ANONYMOUS_READ": "false",
                                    "MZSIM_API_AUTHN_LOCALHOST_IS_ADMIN": "false"}).start()
    try:
        assert call(g2, "GET", "/meshes")[0] == 401
        assert call(g2, "GET", "/meshes", token=g2.admin_token())[0] == 200
    finally:
        g2.proc.stop()
