"""`mzsim vault setup`: configure Vault/OpenBao PKI, role, policy and token for
a mesh's vault mTLS backend (mzsim/setup/vault.py), and print what to apply."""
from __future__ import annotations

import argparse
import os
import sys

from common.errors import BackendError
from common.resources import dump_yaml, secret, to_universal
from mzsim.extras import needs


def register(sub) -> None:
    vault = sub.add_parser("vault", help="helpers for the vault mTLS backend")
    vsub = vault.add_subparsers(dest="vault_command", metavar="SUBCOMMAND")
    p = vsub.add_parser(
        "setup", help="enable a PKI, create a CA, the dataplane-proxies role, a policy and a token for a mesh",
        description="Performs steps 1-4 of Kong Mesh's Vault guide against a Vault or OpenBao server. "
        "Safe to run again: an existing PKI and CA are kept.",
    )
    p.add_argument("--address", default="",
                   help="Vault address, e.g. http://127.0.0.1:8200 (default $VAULT_ADDR, or OpenBao's $BAO_ADDR)")
    p.add_argument("--token", default="",
                   help="a token allowed to mount engines and write policies (default $VAULT_TOKEN, or OpenBao's "
                   "$BAO_TOKEN)")
    p.add_argument("--mesh", default="default", help="mesh name (default: default)")
    p.add_argument("--intermediate", action="store_true",
                   help="make the mesh CA an intermediate signed by the root PKI (--root-pki)")
    p.add_argument("--pki", default="", help="PKI mount path (default kmesh-pki-MESH)")
    p.add_argument("--root-pki", default="pki", help="root PKI mount for --intermediate (default pki)")
    p.add_argument("--role", default="dataplane-proxies", help="role name (default dataplane-proxies)")
    p.add_argument("--max-ttl", default="720h", help="role max_ttl and ttl (default 720h)")
    p.add_argument("--key-type", choices=["rsa", "ec"], default="rsa",
                   help="data plane key type Vault generates (default rsa, Vault's default; ec is much faster)")
    p.add_argument("--namespace", default="", help="Vault namespace (X-Vault-Namespace)")
    p.add_argument("--token-ttl", default="", help="TTL of the created token (default: Vault's default)")
    p.add_argument("--ca-cert", default="", help="PEM file of the CA that signed Vault's TLS certificate")
    p.add_argument("--skip-verify", action="store_true", help="do not verify Vault's TLS certificate")
    p.add_argument("--root-out", default="",
                   help="where to write the root CA PEM (default: named after the PKI mount, "
                   "e.g. ./kmesh-pki-default-root.pem)")
    p.add_argument("--token-out", default="", metavar="FILE",
                   help="also write the created token to FILE (mode 0600); it is always in the Secret on stdout")
    p.set_defaults(func=run_setup)
    vault.set_defaults(func=lambda _a: (vault.print_help(), 2)[1])


def from_env(vault: str, bao: str, flag: str) -> str:
    """$VAULT_x, or OpenBao's $BAO_x; both set and different is ambiguous."""
    a, b = os.environ.get(vault, ""), os.environ.get(bao, "")
    if a and b and a != b:
        raise ValueError(f"{vault} and {bao} are both set and differ; say which with {flag}")
    return a or b


def write_private(path: str, text: str) -> None:
    """Write `text` to `path` readable by its owner only (also when it exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def run_setup(args: argparse.Namespace) -> int:
    with needs("backends", "mzsim vault setup"):
        from mzsim.setup.vault import setup_vault

    try:
        address = args.address or from_env("VAULT_ADDR", "BAO_ADDR", "--address")
        token = args.token or from_env("VAULT_TOKEN", "BAO_TOKEN", "--token")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not address:
        print("error: --address is required (or set VAULT_ADDR or BAO_ADDR)", file=sys.stderr)
        return 2
    if not token:
        print("error: --token is required (or set VAULT_TOKEN or BAO_TOKEN)", file=sys.stderr)
        return 2
    try:
        result = setup_vault(
            address, token, args.mesh, intermediate=args.intermediate, pki=args.pki or None,
            root_pki=args.root_pki, role=args.role, max_ttl=args.max_ttl,
            key_type=None if args.key_type == "rsa" else args.key_type, namespace=args.namespace,
            ca_cert=args.ca_cert, skip_verify=args.skip_verify, token_ttl=args.token_ttl or None,
            progress=lambda m: print(f"  {m}", file=sys.stderr),
        )
    except BackendError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    root_out = args.root_out or f"{result.pki}-root.pem"
    with open(root_out, "w") as f:
        f.write(result.root_pem)
    print(f"root CA written to {os.path.abspath(root_out)}", file=sys.stderr)
    if args.token_out:
        write_private(args.token_out, result.token + "\n")
        print(f"token written to {os.path.abspath(args.token_out)} (mode 0600)", file=sys.stderr)
    print("on stdout: the token as Secret vault-1-token, then the mesh; save them to a private file "
          "(umask 077) and `mzsim apply -f FILE`", file=sys.stderr)
    # stdout is ready to apply: the token as a mesh secret, then the mesh.
    ca_file = os.path.abspath(args.ca_cert) if args.ca_cert else ""
    token_secret = secret("vault-1-token", result.token, result.mesh)
    print(dump_yaml([to_universal(token_secret), result.mesh_doc(token_secret=token_secret.name,
                                                                 skip_verify=args.skip_verify,
                                                                 ca_cert_file=ca_file)]), end="")
    return 0
