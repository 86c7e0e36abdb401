"""How the backend reaches Vault: TLS options, client-certificate login,
namespaces and a Vault agent."""
from __future__ import annotations

import os
import stat

import pytest
import requests

from common.errors import BackendError
from common.x509util import Identity, build_csr, cert_to_pem, generate_key, key_to_pem, make_ca, sign_csr, verify_chain
from mzsim.setup.vault import configure_cert_auth, setup_vault
from mzsim.waiting import free_port

from .conftest import ROOT_TOKEN, BaoServer, token_auth, unique, vault_spec

DEV_CERT_NAME = "localhost.localdomain"  # one of the DNS names in bao's dev TLS certificate


def ident(mesh: str) -> Identity:
    return Identity(mesh, "dp", {"kuma.io/service": ["web"]})


@pytest.fixture
def tls_pki(bao_tls, mesh_name):
    return setup_vault(bao_tls.address, ROOT_TOKEN, mesh_name, pki=unique("pki"), key_type="ec",
                       ca_cert=bao_tls.ca_file)


def ca_source(path: str) -> dict:
    with open(path) as f:
        return {"inlineString": f.read()}


async def tls_backend(make_backend, secrets, bao_tls, pki, mesh, **tls):
    secrets.put(mesh, "vault-token", pki.token)
    return make_backend(mesh, vault_spec(bao_tls.address, pki.pki, pki.role, auth=token_auth(), tls=tls))


async def test_ca_cert_verifies_vault(bao_tls, tls_pki, make_backend, secrets, mesh_name):
    backend = await tls_backend(make_backend, secrets, bao_tls, tls_pki, mesh_name,
                                caCert=ca_source(bao_tls.ca_file))
    cert = await backend.issue(ident(mesh_name), 600)
    verify_chain(cert.cert_pem, await backend.root_certs())


async def test_wrong_ca_fails_verification(bao_tls, tls_pki, make_backend, secrets, mesh_name):
    other_ca, _ = make_ca("Some other CA", key_type="ec")
    backend = await tls_backend(make_backend, secrets, bao_tls, tls_pki, mesh_name,
                                caCert={"inlineString": cert_to_pem(other_ca)})
    with pytest.raises(BackendError) as err:
        await backend.issue(ident(mesh_name), 600)
    assert err.value.message.startswith(f"TLS connection to vault at {bao_tls.address} failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in err.value.message
    assert err.value.retryable is False


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
async def test_skip_verify_needs_no_ca(bao_tls, tls_pki, make_backend, secrets, mesh_name):
    backend = await tls_backend(make_backend, secrets, bao_tls, tls_pki, mesh_name, skipVerify=True)
    await backend.issue(ident(mesh_name), 600)


async def test_server_name_is_used_for_sni_and_verification(bao_tls, tls_pki, make_backend, secrets,
                                                            mesh_name):
    # The address names 127.0.0.1; serverName picks the certificate name to check instead.
    good = await tls_backend(make_backend, secrets, bao_tls, tls_pki, mesh_name,
                             caCert=ca_source(bao_tls.ca_file), serverName=DEV_CERT_NAME)
    await good.issue(ident(mesh_name), 600)
    bad = await tls_backend(make_backend, secrets, bao_tls, tls_pki, mesh_name,
                            caCert=ca_source(bao_tls.ca_file), serverName="vault.example.com")
    with pytest.raises(BackendError) as err:
        await bad.issue(ident(mesh_name), 600)
    assert "vault.example.com" in err.value.message
    assert "CERTIFICATE_VERIFY_FAILED" in err.value.message or "match" in err.value.message


async def test_client_certificate_login(bao_tls, tls_pki, make_backend, mesh_name):
    client_ca, client_ca_key = make_ca("mzsim client CA", key_type="ec")
    configure_cert_auth(bao_tls.address, ROOT_TOKEN, name=unique("cp"), ca_pem=cert_to_pem(client_ca),
                        policies=[tls_pki.policy], ca_cert=bao_tls.ca_file)

    key = generate_key("ec")
    client_cert = sign_csr(build_csr(ident(mesh_name), key, "control-plane"), client_ca, client_ca_key, 3600)
    spec = vault_spec(bao_tls.address, tls_pki.pki, tls_pki.role, tls={"caCert": ca_source(bao_tls.ca_file)},
                      auth={"tls": {"clientKey": {"inlineString": key_to_pem(key)},
                                    "clientCert": {"inlineString": cert_to_pem(client_cert)}}})
    backend = make_backend(mesh_name, spec)
    cert = await backend.issue(ident(mesh_name), 600)
    verify_chain(cert.cert_pem, await backend.root_certs())
    # Logged in with a token of the cert method's default TTL, which it tracks.
    assert backend.token_ttl_remaining() > 0
    files = backend._files.paths
    assert len(files) == 3  # CA, client cert, client key
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in files)
    await backend.close()
    assert not any(os.path.exists(p) for p in files)


async def test_namespace(bao, make_backend, secrets, mesh_name):
    ns = unique("ns")
    requests.post(f"{bao.address}/v1/sys/namespaces/{ns}", headers={"X-Vault-Token": ROOT_TOKEN},
                  timeout=10).raise_for_status()
    result = setup_vault(bao.address, ROOT_TOKEN, mesh_name, pki=unique("pki"), key_type="ec", namespace=ns)
    secrets.put(mesh_name, "vault-token", result.token)
    inside = make_backend(mesh_name, vault_spec(bao.address, result.pki, result.role, auth=token_auth(),
                                                namespace=ns))
    cert = await inside.issue(ident(mesh_name), 600)
    roots = await inside.root_certs()
    assert roots == [result.root_pem]
    verify_chain(cert.cert_pem, roots)
    # The same PKI path outside the namespace does not exist.
    outside = make_backend(mesh_name, vault_spec(bao.address, result.pki, result.role, auth=token_auth(),
                                                 name="vault-2"))
    with pytest.raises(BackendError) as err:
        await outside.issue(ident(mesh_name), 600)
    assert "permission denied" in err.value.message or "no handler for route" in err.value.message


@pytest.fixture
def bao_agent(bao, pki, tmp_path):
    """A real `bao agent` that logs in with the PKI token and adds it to proxied requests."""
    token_file = tmp_path / "token"
    token_file.write_text(pki.token)
    port = free_port()
    (tmp_path / "agent.hcl").write_text(f"""
vault {{ address = "{bao.address}" }}
auto_auth {{
  method "token_file" {{
    config = {{ token_file_path = "{token_file}" }}
  }}
}}
api_proxy {{ use_auto_auth_token = true }}
listener "tcp" {{
  address = "127.0.0.1:{port}"
  tls_disable = true
}}
""")
    agent = BaoServer(["agent", f"-config={tmp_path / 'agent.hcl'}"], f"http://127.0.0.1:{port}", str(tmp_path))
    agent.start()
    yield agent
    agent.stop()


async def test_agent_address_needs_no_credentials(bao, pki, bao_agent, make_backend, mesh_name):
    spec = vault_spec("http://127.0.0.1:1", pki.pki, pki.role, agentAddress=bao_agent.address)
    backend = make_backend(mesh_name, spec)
    cert = await backend.issue(ident(mesh_name), 600)
    verify_chain(cert.cert_pem, await backend.root_certs())
    assert backend.token_ttl_remaining() is None
