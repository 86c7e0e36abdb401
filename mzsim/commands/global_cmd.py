"""`mzsim global`: run the global control plane."""
from __future__ import annotations

import asyncio
import sys

from common import config as cfgmod
from common.errors import MzsimError, PortInUse


def register(sub) -> None:
    p = sub.add_parser("global", help="run the global control plane (HTTP API + KDS server)",
                       description="Run the global control plane. Settings: defaults < --config FILE < "
                       "MZSIM_* environment (e.g. MZSIM_KDS_LIVENESS_TIMEOUT=5s) < flags.")
    p.add_argument("--api-port", type=int, help="HTTP API port (default 5681)")
    p.add_argument("--kds-port", type=int, help="KDS websocket port (default 5685)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1; 0.0.0.0 in containers)")
    p.add_argument("--data-dir", help="where the SQLite stores live (default ./mzsim-data/global)")
    p.add_argument("--kubeconfig", help="kubeconfig, so global can test-issue from certmanager backends")
    p.add_argument("--kds-tls-cert", help="KDS server certificate (PEM, chain first); default: one signed by a "
                   "CA global generates in its data dir (kds-ca.crt)")
    p.add_argument("--kds-tls-key", help="the private key of --kds-tls-cert")
    p.add_argument("--kds-tls-san", action="append", default=[], metavar="NAME",
                   help="an extra name for the generated KDS certificate, e.g. the host zones dial; repeatable")
    p.add_argument("--api-tls-cert", help="serve the API over HTTPS with this certificate (PEM)")
    p.add_argument("--api-tls-key", help="the private key of --api-tls-cert")
    p.add_argument("--config", help="YAML configuration file")
    p.set_defaults(func=main)


def main(args) -> int:
    from global_cp.app import run
    from global_cp.config import GlobalConfig

    try:
        config = cfgmod.load(GlobalConfig, args.config, overrides={
            "api_port": args.api_port, "kds_port": args.kds_port, "host": args.host, "data_dir": args.data_dir,
            "kubeconfig": args.kubeconfig})
        tls = config.kds.tls
        tls.cert_file, tls.key_file = args.kds_tls_cert or tls.cert_file, args.kds_tls_key or tls.key_file
        tls.sans = [*tls.sans, *args.kds_tls_san]
        config.api.tls_cert = args.api_tls_cert or config.api.tls_cert
        config.api.tls_key = args.api_tls_key or config.api.tls_key
        config.dashboard.check()
    except MzsimError as e:
        print(f"mzsim global: {e}", file=sys.stderr)
        return 2
    from global_cp.tls import TlsConfigError

    try:
        asyncio.run(run(config))
    except TlsConfigError as e:
        print(f"mzsim global: {e}", file=sys.stderr)
        return 2
    except PortInUse as e:
        flag = "--kds-port (MZSIM_KDS_PORT)" if e.port == config.kds_port else "--api-port (MZSIM_API_PORT)"
        print(f"mzsim global: port {e.port} on {e.host} is already in use; choose another with {flag}",
              file=sys.stderr)
        return 2
    return 0
