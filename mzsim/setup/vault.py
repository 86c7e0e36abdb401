"""Configure a Vault (or OpenBao) server for a mesh's `vault` mTLS backend:
the steps 1-4 of Kong Mesh's Vault guide, idempotent, as one function shared
by `mzsim vault setup`, the demo and the tests.

1. enable a PKI secrets engine for the mesh (`kmesh-pki-{mesh}`);
2. a root CA in it, or an intermediate CA signed by an organisation root PKI;
3. the role `dataplane-proxies` with the guide's parameters;
4. a policy granting `{pki}/issue/{role}`, and a token with that policy.

Blocking (hvac): from async code, call it with asyncio.to_thread.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import hvac
import hvac.exceptions
import yaml

from common.ca.vault.errors import to_backend_error
from common.errors import BackendError
from common.x509util import split_chain

DEFAULT_ROLE = "dataplane-proxies"
DEFAULT_ROOT_PKI = "pki"
DEFAULT_CA_TTL = "87600h"
DEFAULT_INTERMEDIATE_TTL = "43800h"

Progress = Callable[[str], None]


def default_pki(mesh: str) -> str:
    return f"kmesh-pki-{mesh}"


def policy_name(mesh: str, role: str = DEFAULT_ROLE) -> str:
    return f"kmesh-{mesh}-{role}"


def role_params(mesh: str, max_ttl: str = "720h", key_type: str | None = None,
                allowed_uri_sans: str | None = None) -> dict:
    """The guide's role. `key_type` None keeps Vault's default (RSA 2048);
    'ec' makes P-256 keys, which Vault generates about 30x faster."""
    params = {
        "allowed_uri_sans": allowed_uri_sans or f"spiffe://{mesh}/*,kuma://*",
        "key_usage": "KeyUsageKeyEncipherment,KeyUsageKeyAgreement,KeyUsageDigitalSignature",
        "ext_key_usage": "ExtKeyUsageServerAuth,ExtKeyUsageClientAuth",
        "client_flag": True,
        "require_cn": False,
        "allowed_domains": "mesh",
        "allow_subdomains": True,
        "basic_constraints_valid_for_non_ca": True,
        "max_ttl": max_ttl,
        "ttl": max_ttl,
    }
    if key_type:
        params["key_type"] = key_type
        params["key_bits"] = 256 if key_type == "ec" else 2048
    return params


def policy_hcl(pki: str, role: str) -> str:
    return f'path "{pki}/issue/{role}"\n{{\n  capabilities = ["create", "update"]\n}}\n'


@dataclass
class SetupResult:
    address: str
    mesh: str
    pki: str
    role: str
    policy: str
    token: str
    root_pem: str  # the root that data plane certificates chain to
    intermediate: bool
    namespace: str = ""

    def mesh_doc(self, *, backend: str = "vault-1", token_secret: str = "", expiration: str = "24h",
                 ca_cert_secret: str = "", ca_cert_file: str = "", skip_verify: bool = False,
                 server_name: str = "",
                 common_name: str = '{{ tag "kuma.io/service" }}.mesh') -> dict:
        """A Universal Mesh using this setup; the token goes in a mesh secret."""
        from_cp: dict = {"address": self.address, "pki": self.pki, "role": self.role}
        if self.namespace:
            from_cp["namespace"] = self.namespace
        if common_name:
            from_cp["commonName"] = common_name
        tls: dict = {}
        if ca_cert_secret:
            tls["caCert"] = {"secret": ca_cert_secret}
        elif ca_cert_file:
            tls["caCert"] = {"file": ca_cert_file}
        if skip_verify:
            tls["skipVerify"] = True
        if server_name:
            tls["serverName"] = server_name
        if tls:
            from_cp["tls"] = tls
        from_cp["auth"] = {"token": {"secret": token_secret or f"{backend}-token"}}
        return {
            "type": "Mesh", "name": self.mesh,
            "mtls": {"enabledBackend": backend, "backends": [{
                "name": backend, "type": "vault",
                "dpCert": {"rotation": {"expiration": expiration}},
                "conf": {"fromCp": from_cp},
            }]},
        }

    def mesh_yaml(self, **kwargs) -> str:
        return yaml.safe_dump(self.mesh_doc(**kwargs), sort_keys=False)


def make_client(address: str, token: str, *, namespace: str = "", ca_cert: str = "",
                skip_verify: bool = False, timeout: float = 30) -> hvac.Client:
    verify: bool | str = False if skip_verify else (ca_cert or True)
    return hvac.Client(url=address, token=token, verify=verify, namespace=namespace or None, timeout=timeout)


class _Steps:
    """Runs setup steps, naming the failed step and quoting Vault."""

    def __init__(self, client: hvac.Client, address: str, progress: Progress | None):
        self.client, self.address, self.progress = client, address, progress or (lambda _m: None)

    def run(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - translated; unknown errors re-raise
            err = to_backend_error(e, self.address)
            raise BackendError(f"vault setup failed to {what}: {err.message}", retryable=err.retryable) from None

    def say(self, message: str) -> None:
        self.progress(message)

    # -- primitives --------------------------------------------------------------
    def post(self, what: str, path: str, **body) -> dict:
        return self.run(what, self.client.adapter.post, f"/v1/{path}", json=body) or {}

    def mount_type(self, path: str) -> str | None:
        mounts = self.run("list secrets engines", self.client.sys.list_mounted_secrets_engines)
        table = mounts.get("data", mounts)
        entry = table.get(path.strip("/") + "/")
        return entry.get("type") if isinstance(entry, dict) else None

    def ensure_pki(self, path: str, max_lease_ttl: str) -> None:
        kind = self.mount_type(path)
        if kind is None:
            self.run(f"enable the PKI {path}", self.client.sys.enable_secrets_engine,
                     backend_type="pki", path=path, config={"max_lease_ttl": max_lease_ttl})
            self.say(f"enabled PKI secrets engine at {path}/ (max lease TTL {max_lease_ttl})")
        elif kind != "pki":
            raise BackendError(f"vault setup: {path}/ is already mounted as a {kind!r} secrets engine, "
                               f"not pki: choose another path with --pki", retryable=False)
        else:
            self.run(f"tune the PKI {path}", self.client.sys.tune_mount_configuration,
                     path=path, max_lease_ttl=max_lease_ttl)
            self.say(f"PKI secrets engine at {path}/ already enabled")

    def ca_chain(self, pki: str) -> list[str]:
        """The PKI's CA chain, or [] if it has no CA yet."""
        def read():
            try:
                resp = self.client.adapter.get(f"/v1/{pki}/ca_chain")
            except hvac.exceptions.InvalidPath:
                return ""
            return getattr(resp, "text", "") or ""
        text = self.run(f"read the CA of {pki}", read)
        return [text] if "BEGIN CERTIFICATE" in text else []

    def kept_root(self, pki: str) -> str:
        """The root certificate of the CA `pki` already has, which setup keeps; '' if it has none."""
        chain = self.ca_chain(pki)
        if not chain:
            return ""
        self.say(f"{pki} already has a CA; keeping it")
        return split_chain(chain)[1][0]

    def ensure_root(self, pki: str, common_name: str, uri_sans: str, ttl: str) -> str:
        kept = self.kept_root(pki)
        if kept:
            return kept
        data = self.post(f"generate the root CA of {pki}", f"{pki}/root/generate/internal",
                         common_name=common_name, uri_sans=uri_sans, ttl=ttl)["data"]
        self.say(f'generated root CA "{common_name}" in {pki} (TTL {ttl})')
        return data["certificate"].strip() + "\n"


def setup_vault(address: str, token: str, mesh: str = "default", *, intermediate: bool = False,
                pki: str | None = None, root_pki: str = DEFAULT_ROOT_PKI, role: str = DEFAULT_ROLE,
                max_ttl: str = "720h", ca_ttl: str = DEFAULT_CA_TTL,
                intermediate_ttl: str = DEFAULT_INTERMEDIATE_TTL, key_type: str | None = None,
                allowed_uri_sans: str | None = None, namespace: str = "", ca_cert: str = "",
                skip_verify: bool = False, token_ttl: str | None = None, token_renewable: bool = True,
                token_explicit_max_ttl: str | None = None, progress: Progress | None = None) -> SetupResult:
    """Run steps 1-4; safe to run again (existing mounts and CAs are kept)."""
    pki = (pki or default_pki(mesh)).strip("/")
    client = make_client(address, token, namespace=namespace, ca_cert=ca_cert, skip_verify=skip_verify)
    steps = _Steps(client, address, progress)
    try:
        steps.ensure_pki(pki, ca_ttl)
        if intermediate:
            root_pem = _ensure_intermediate(steps, mesh, pki, root_pki, ca_ttl, intermediate_ttl)
        else:
            root_pem = steps.ensure_root(pki, f"Kong Mesh {mesh}", f"spiffe://{mesh}", ca_ttl)

        steps.post(f"write the role {role}", f"{pki}/roles/{role}",
                   **role_params(mesh, max_ttl, key_type, allowed_uri_sans))
        steps.say(f"wrote role {pki}/roles/{role} (max TTL {max_ttl}, key type {key_type or 'rsa (default)'})")

        policy = policy_name(mesh, role)
        steps.run(f"write the policy {policy}", client.sys.create_or_update_policy,
                  name=policy, policy=policy_hcl(pki, role))
        steps.say(f"wrote policy {policy} granting {pki}/issue/{role}")

        body: dict = {"policies": [policy], "renewable": token_renewable}
        if token_ttl:
            body["ttl"] = token_ttl
        if token_explicit_max_ttl:
            body["explicit_max_ttl"] = token_explicit_max_ttl
        auth = steps.post("create a token", "auth/token/create", **body)["auth"]
        steps.say(f"created a token with policy {policy}"
                  + (f" (TTL {auth.get('lease_duration')}s, renewable={auth.get('renewable')})"
                     if auth.get("lease_duration") else ""))
    finally:
        client.adapter.close()
    return SetupResult(address=address, mesh=mesh, pki=pki, role=role, policy=policy,
                       token=auth["client_token"], root_pem=root_pem, intermediate=intermediate,
                       namespace=namespace)


def _ensure_intermediate(steps: _Steps, mesh: str, pki: str, root_pki: str, ca_ttl: str,
                         intermediate_ttl: str) -> str:
    steps.ensure_pki(root_pki, ca_ttl)
    root_pem = steps.ensure_root(root_pki, "Organization CA", "", ca_ttl)
    kept = steps.kept_root(pki)
    if kept:
        return kept
    csr = steps.post(f"generate the intermediate CSR of {pki}", f"{pki}/intermediate/generate/internal",
                     common_name=f"Kong Mesh Mesh {mesh}", uri_sans=f"spiffe://{mesh}")["data"]["csr"]
    signed = steps.post(f"sign the intermediate of {pki} with {root_pki}", f"{root_pki}/root/sign-intermediate",
                        csr=csr, format="pem_bundle", ttl=intermediate_ttl)["data"]["certificate"]
    bundle = signed.strip() + "\n" + root_pem
    steps.post(f"set the signed intermediate of {pki}", f"{pki}/intermediate/set-signed", certificate=bundle)
    steps.say(f"generated intermediate CA for {pki}, signed by {root_pki} (TTL {intermediate_ttl})")
    return root_pem


def configure_cert_auth(address: str, token: str, *, name: str, ca_pem: str, policies: list[str],
                        namespace: str = "", ca_cert: str = "", skip_verify: bool = False,
                        token_ttl: str | None = None) -> None:
    """Enable the cert auth method (if needed) and trust `ca_pem` for `policies`,
    so a control plane can log in with a client certificate (auth.tls)."""
    client = make_client(address, token, namespace=namespace, ca_cert=ca_cert, skip_verify=skip_verify)
    steps = _Steps(client, address, None)
    try:
        methods = steps.run("list auth methods", client.sys.list_auth_methods)
        table = methods.get("data", methods)
        if "cert/" not in table:
            steps.run("enable the cert auth method", client.sys.enable_auth_method, method_type="cert")
        body: dict = {"certificate": ca_pem, "token_policies": policies}
        if token_ttl:
            body["token_ttl"] = token_ttl
        steps.post(f"trust the client CA {name}", f"auth/cert/certs/{name}", **body)
    finally:
        client.adapter.close()
