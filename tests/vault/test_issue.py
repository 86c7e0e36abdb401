"""Issuing from Vault PKI set up as in the Kong Mesh guide (root and intermediate)."""
from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from common.errors import BackendError
from common.resources import parse_text
from common.validation import validate_backend_conf
from common.x509util import Identity, load_certs, load_key, public_keys_match, uri_sans_of, verify_chain
from mzsim.cli import main as mzsim_main
from mzsim.setup.vault import setup_vault

from .conftest import ROOT_TOKEN, token_auth, unique, vault_spec

CN_TEMPLATE = '{{ tag "kuma.io/service" }}.mesh'


def identity(mesh: str) -> Identity:
    return Identity(mesh, "web-1", {"kuma.io/service": ["web"], "version": ["v2"], "kuma.io/zone": ["zone-1"]})


def expected_sans(mesh: str) -> list[str]:
    return [f"spiffe://{mesh}/web", "kuma://kuma.io/service/web", "kuma://kuma.io/zone/zone-1",
            "kuma://version/v2"]


async def issue_and_check(make_backend, secrets, bao, result, mesh):
    secrets.put(mesh, "vault-token", result.token)
    backend = make_backend(mesh, vault_spec(bao.address, result.pki, result.role, auth=token_auth(),
                                            commonName=CN_TEMPLATE))
    cert = await backend.issue(identity(mesh), 3600)
    roots = await backend.root_certs()
    assert roots == [result.root_pem]
    assert cert.ca_pems == roots
    chain = verify_chain(cert.cert_pem, roots)
    assert uri_sans_of(cert.leaf) == expected_sans(mesh)
    # The CN stays in the subject and adds no DNS SAN: SANs are exactly the URIs.
    assert cert.leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "web.mesh"
    sans = cert.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == []
    lifetime = cert.not_after - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=58) < lifetime <= dt.timedelta(hours=1, seconds=5)
    assert cert.key_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert public_keys_match(cert.leaf, load_key(cert.key_pem))
    return cert, chain


async def test_root_ca_setup_issues_chained_certs(bao, make_backend, secrets, mesh_name):
    result = setup_vault(bao.address, ROOT_TOKEN, mesh_name, pki=unique("pki"), key_type="ec")
    _, chain = await issue_and_check(make_backend, secrets, bao, result, mesh_name)
    assert len(chain) == 2  # leaf, mesh root
    root = chain[-1]
    assert root.subject == root.issuer
    assert uri_sans_of(root) == [f"spiffe://{mesh_name}"]


async def test_intermediate_setup_chains_to_the_org_root(bao, make_backend, secrets, mesh_name):
    root_pki = unique("root")
    result = setup_vault(bao.address, ROOT_TOKEN, mesh_name, intermediate=True, pki=unique("pki"),
                         root_pki=root_pki, key_type="ec")
    cert, chain = await issue_and_check(make_backend, secrets, bao, result, mesh_name)
    assert len(chain) == 3  # leaf, mesh intermediate, org root
    assert len(load_certs(cert.cert_pem)) == 2  # the leaf carries its intermediate
    org_root = load_certs(result.root_pem)[0]
    assert org_root.subject.rfc4514_string() == "CN=Organization CA"
    assert chain[1].subject.rfc4514_string() == f"CN=Kong Mesh Mesh {mesh_name}"


async def test_setup_is_idempotent_and_keeps_the_ca(bao, mesh_name):
    pki = unique("pki")
    first = setup_vault(bao.address, ROOT_TOKEN, mesh_name, pki=pki, key_type="ec")
    again = setup_vault(bao.address, ROOT_TOKEN, mesh_name, pki=pki, key_type="ec")
    assert again.root_pem == first.root_pem
    assert again.token != first.token


async def test_rsa_role_issues_rsa_keys(bao, make_backend, secrets, mesh_name):
    result = setup_vault(bao.address, ROOT_TOKEN, mesh_name, pki=unique("pki"), key_type=None)
    secrets.put(mesh_name, "vault-token", result.token)
    backend = make_backend(mesh_name, vault_spec(bao.address, result.pki, result.role, auth=token_auth()))
    cert = await backend.issue(identity(mesh_name), 600)
    assert cert.leaf.public_key().key_size == 2048


async def test_ttl_is_capped_at_the_role_max_ttl(bao, make_backend, secrets, mesh_name):
    result = setup_vault(bao.address, ROOT_TOKEN, mesh_name, pki=unique("pki"), key_type="ec", max_ttl="2h")
    secrets.put(mesh_name, "vault-token", result.token)
    backend = make_backend(mesh_name, vault_spec(bao.address, result.pki, result.role, auth=token_auth()))
    cert = await backend.issue(identity(mesh_name), 24 * 3600)
    left = cert.not_after - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=1, minutes=58) < left <= dt.timedelta(hours=2, seconds=5)


async def test_ttl_beyond_the_ca_expiry_quotes_vault(bao, make_backend, secrets, mesh_name):
    result = setup_vault(bao.address, ROOT_TOKEN, mesh_name, pki=unique("pki"), key_type="ec", ca_ttl="1h")
    secrets.put(mesh_name, "vault-token", result.token)
    backend = make_backend(mesh_name, vault_spec(bao.address, result.pki, result.role, auth=token_auth()))
    with pytest.raises(BackendError) as err:
        await backend.issue(identity(mesh_name), 3 * 3600)
    assert "beyond the expiration of the CA certificate" in err.value.message
    assert err.value.retryable is False


async def test_metrics_record_latency_and_token_ttl(pki, make_backend, secrets, metrics, bao, mesh_name):
    secrets.put(mesh_name, "vault-token", pki.token)
    backend = make_backend(mesh_name, vault_spec(bao.address, pki.pki, pki.role, auth=token_auth()))
    await backend.issue(identity(mesh_name), 600)
    hist = metrics.histogram("mzsim_backend_request_seconds", "")
    labels = dict(backend_type="vault", mesh=mesh_name, backend="vault-1")
    assert hist.count(**labels, operation="issue", outcome="ok") == 1
    assert hist.count(**labels, operation="lookup", outcome="ok") == 1
    ttl = metrics.gauge("mzsim_vault_token_ttl_seconds", "").value(mesh=mesh_name, backend="vault-1")
    assert 0 < ttl <= 32 * 24 * 3600  # the token's default TTL, as Vault reported it
    assert abs(ttl - backend.token_ttl_remaining()) < 60
    assert pki.token not in metrics.render()


def test_cli_setup_prints_token_and_mesh(bao, tmp_path, capsys, mesh_name):
    root_out = tmp_path / "root.pem"
    pki = unique("pki")
    code = mzsim_main(["vault", "setup", "--address", bao.address, "--token", ROOT_TOKEN, "--mesh", mesh_name,
                       "--pki", pki, "--key-type", "ec", "--root-out", str(root_out),
                       "--token-out", str(tmp_path / "token")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"enabled PKI secrets engine at {pki}/" in err
    assert f"wrote policy kmesh-{mesh_name}-dataplane-proxies" in err
    token = (tmp_path / "token").read_text().strip()
    assert token.startswith("s.") and token not in err  # the token never goes to stderr
    assert (tmp_path / "token").stat().st_mode & 0o777 == 0o600
    secret_res, mesh = parse_text(out)  # stdout applies as is: the token secret, then the mesh
    assert (secret_res.kind, secret_res.mesh, secret_res.secret_bytes()) == ("Secret", mesh_name, token.encode())
    from_cp = mesh.spec["mtls"]["backends"][0]["conf"]["fromCp"]
    assert (mesh.name, from_cp["pki"], from_cp["role"]) == (mesh_name, pki, "dataplane-proxies")
    assert from_cp["auth"]["token"] == {"secret": secret_res.name}
    assert not validate_backend_conf("vault", mesh.spec["mtls"]["backends"][0]["conf"], "conf")
    assert load_certs(root_out.read_bytes())[0].subject.rfc4514_string() == f"CN=Kong Mesh {mesh_name}"


@pytest.mark.parametrize("prefix", ["VAULT", "BAO"])
def test_cli_setup_takes_address_and_token_from_vault_or_openbao_environment(bao, capsys, mesh_name, monkeypatch,
                                                                             tmp_path, prefix):
    for var in ("VAULT_ADDR", "VAULT_TOKEN", "BAO_ADDR", "BAO_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(f"{prefix}_ADDR", bao.address)
    monkeypatch.setenv(f"{prefix}_TOKEN", ROOT_TOKEN)
    code = mzsim_main(["vault", "setup", "--mesh", mesh_name, "--key-type", "ec", "--root-out",
                       str(tmp_path / "root.pem")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert parse_text(out)[1].name == mesh_name
    monkeypatch.setenv("VAULT_ADDR" if prefix == "BAO" else "BAO_ADDR", "http://127.0.0.1:1")
    assert mzsim_main(["vault", "setup", "--mesh", mesh_name]) == 2
    assert "VAULT_ADDR and BAO_ADDR are both set and differ; say which with --address" in capsys.readouterr().err


def test_cli_setup_reports_vault_errors(bao, capsys, mesh_name):
    code = mzsim_main(["vault", "setup", "--address", bao.address, "--token", "not-a-token", "--mesh", mesh_name])
    _, err = capsys.readouterr()
    assert code == 1
    assert "permission denied" in err
