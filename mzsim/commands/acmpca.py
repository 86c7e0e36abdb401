"""`mzsim acmpca serve` (moto's ACM PCA, fixed where it differs from AWS, with
fault injection) and `mzsim acmpca setup` (an ACTIVE root CA for a mesh)."""
from __future__ import annotations

import argparse
import os
import sys

from common.errors import BackendError
from common.resources import dump_yaml
from mzsim.extras import needs


def register(sub) -> None:
    acm = sub.add_parser("acmpca", help="helpers for the acmpca mTLS backend")
    asub = acm.add_subparsers(dest="acmpca_command", metavar="SUBCOMMAND")

    s = asub.add_parser("serve", help="run an ACM Private CA API (moto, fixed) on loopback for tests and demos",
                        description="Serves moto's ACM PCA with a cached CA key, honoured Validity, KeyAlgorithm "
                        "and SigningAlgorithm, no issuing from a CA that is not ACTIVE, idempotency tokens, and "
                        "fault injection on /_faults. See docs/acmpca.md.")
    s.add_argument("--port", type=int, required=True, help="port to listen on")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--tls-cert-dir", default="",
                   help="serve HTTPS with a certificate signed by DIR/ca.pem (made on first use)")
    s.add_argument("--access-log", action="store_true", help="log every request")
    s.set_defaults(func=run_serve)

    p = asub.add_parser("setup", help="create an ACTIVE root CA and print its ARN and certificate",
                        description="Creates a ROOT certificate authority, signs its CSR with the "
                        "RootCACertificate/V1 template and imports the certificate, so the CA is ACTIVE. "
                        "Prints the ARN on stdout and writes the root certificate to --root-out.")
    p.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL_ACM_PCA")
                   or os.environ.get("AWS_ENDPOINT_URL", ""),
                   help="ACM PCA endpoint (default $AWS_ENDPOINT_URL_ACM_PCA, $AWS_ENDPOINT_URL, else AWS)")
    p.add_argument("--region", default=os.environ.get("AWS_REGION") or "us-east-1",
                   help="AWS region (default $AWS_REGION or us-east-1)")
    p.add_argument("--common-name", default="mzsim ACM PCA root", help="subject CN of the root CA")
    p.add_argument("--key-algorithm", default="RSA_2048",
                   help="CA key: RSA_2048 (default), RSA_4096, EC_prime256v1, EC_secp384r1, ...")
    p.add_argument("--validity-days", type=int, default=3650, help="root certificate lifetime (default 3650)")
    p.add_argument("--ca-cert", default="", help="PEM file of the CA that signed the endpoint's TLS certificate")
    p.add_argument("--root-out", default="", help="where to write the root CA PEM (default ./acmpca-root.pem)")
    p.add_argument("--mesh", default="",
                   help="print a Mesh of this name using the CA (default credential chain) instead of the ARN and "
                   "root certificate")
    p.set_defaults(func=run_setup)
    acm.set_defaults(func=lambda _a: (acm.print_help(), 2)[1])


def run_serve(args: argparse.Namespace) -> int:
    with needs("services", "mzsim acmpca serve"):  # moto is imported as the server starts
        from mzsim.services.acmpca_server import serve

        serve(args.port, args.host, args.tls_cert_dir, access_log=args.access_log)
    return 0


def run_setup(args: argparse.Namespace) -> int:
    with needs("backends", "mzsim acmpca setup"):
        from mzsim.setup.acmpca import setup_acmpca

    try:
        result = setup_acmpca(args.endpoint_url or None, args.region, common_name=args.common_name,
                              key_algorithm=args.key_algorithm, validity_days=args.validity_days,
                              ca_cert=args.ca_cert or None, progress=lambda m: print(f"  {m}", file=sys.stderr))
    except BackendError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    root_out = args.root_out or "acmpca-root.pem"
    with open(root_out, "w") as f:
        f.write(result.root_pem)
    print(f"root CA written to {os.path.abspath(root_out)}", file=sys.stderr)
    if args.mesh:  # stdout is ready to apply
        print(f"certificate authority: {result.arn}", file=sys.stderr)
        print(dump_yaml([result.mesh_doc(args.mesh)]), end="")
    else:  # the ARN, then the root chain
        print(result.arn)
        print(result.root_pem, end="")
    return 0
