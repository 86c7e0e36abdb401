"""`mzsim zone`: run one zone control plane, or many with --count."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from common import config as cfgmod
from common.errors import MzsimError, PortInUse


def register(sub) -> None:
    p = sub.add_parser("zone", help="run a zone control plane (or --count N of them in one process)",
                       description="Run a zone control plane. Settings: defaults < --config FILE < "
                       "MZSIM_* environment (MZSIM_ZONE_TOKEN holds the token) < flags.")
    p.add_argument("--name", help="zone name (required unless --count > 1)")
    p.add_argument("--global-address", help="global KDS address, e.g. wss://127.0.0.1:5685 (omit: standalone)")
    p.add_argument("--kds-ca-cert", help="CA certificate that signed global's KDS certificate (wss://); "
                   "global generates it as data-dir/kds-ca.crt (default: the system trust store)")
    p.add_argument("--kds-tls-skip-verify", action="store_true", default=None,
                   help="dial wss:// without verifying global's certificate (insecure; for experiments)")
    p.add_argument("--token-file", help="file with the zone token; may contain {zone} (for --count)")
    p.add_argument("--api-port", type=int, help="zone API port (default 5682; --count uses consecutive ports)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--data-dir", help="store directory; one subdirectory per zone (default ./mzsim-data/zones)")
    p.add_argument("--environment", choices=["universal", "kubernetes"], help="default universal")
    p.add_argument("--kubeconfig", help="kubeconfig for the certmanager backend (kubernetes environment)")
    p.add_argument("--count", type=int, help="run N independent zones in this process")
    p.add_argument("--procs", type=int, help="with --count: spread the zones over P child processes "
                   "(default 1: all in this one); the parent stops them all on SIGTERM/SIGINT")
    p.add_argument("--shard", help=argparse.SUPPRESS)  # K/P: the slice a --procs child runs
    p.add_argument("--name-prefix", help="zone name prefix with --count (default zone-)")
    p.add_argument("--dataplanes", type=int, help="register N simulated dataplanes in each zone")
    p.add_argument("--services", type=int, help="spread simulated dataplanes over S services (default 1)")
    p.add_argument("--mesh", help="mesh(es) of the simulated dataplanes, comma-separated (default default)")
    p.add_argument("--dp-key-type", choices=["ec", "rsa"], help="data plane key type (default ec)")
    p.add_argument("--config", help="YAML configuration file")
    p.set_defaults(func=main)


def missing_token(config) -> str:
    """Why a zone cannot present its token ('' if it can): a --token-file that is
    missing or empty is a mistake (often a token fetched before global was up),
    so the zone says so and exits instead of being refused forever."""
    from zone_cp.app import zone_configs

    if config.token or not config.token_file or not config.global_address:
        return ""
    for cfg in zone_configs(config):
        path = config.token_file.replace("{zone}", cfg.name)
        try:
            with open(path) as f:
                if f.read(64 * 1024).strip():  # a JWT is well under 64 KiB
                    continue
            return (f"token file {path} is empty; write zone {cfg.name}'s token into it "
                    f"(mzsim token zone --zone {cfg.name} > {path}) and start the zone again")
        except OSError as e:
            return f"cannot read token file {path}: {e.strerror}; create it with mzsim token zone --zone {cfg.name}"
    return ""


# The options a --procs child is given as they came (everything but --procs and --shard).
CHILD_OPTIONS = ("name", "global_address", "kds_ca_cert", "token_file", "api_port", "host", "data_dir",
                 "environment", "kubeconfig", "count", "name_prefix", "dataplanes", "services", "mesh",
                 "dp_key_type", "config")


def child_argv(args, k: int, procs: int) -> list[str]:
    argv = [sys.executable, "-m", "mzsim", "--log-level",
            logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower(), "zone"]
    for name in CHILD_OPTIONS:
        value = getattr(args, name)
        if value is not None:
            argv += ["--" + name.replace("_", "-"), str(value)]
    if args.kds_tls_skip_verify:
        argv.append("--kds-tls-skip-verify")
    return [*argv, "--shard", f"{k}/{procs}"]


def run_procs(args, config) -> int:
    from zone_cp.app import zone_configs
    from zone_cp.procs import Child, shard_range, supervise

    configs = zone_configs(config)
    procs = min(args.procs, len(configs))
    children = []
    for k in range(procs):
        part = [configs[i] for i in shard_range(len(configs), (k, procs))]
        children.append(Child(k, procs, f"zones {part[0].name}..{part[-1].name}", child_argv(args, k, procs)))
    ready = (f"mzsim zone ready: {len(configs)} zones in {procs} processes "
             f"(API from port {configs[0].api_port})")
    return asyncio.run(supervise(children, ready))


def main(args) -> int:
    from zone_cp.app import run
    from zone_cp.config import ZoneConfig
    from zone_cp.procs import die_with_parent, parse_shard

    try:
        config = cfgmod.load(ZoneConfig, args.config, overrides={
            "name": args.name, "global_address": args.global_address, "token_file": args.token_file,
            "api_port": args.api_port, "host": args.host, "data_dir": args.data_dir,
            "environment": args.environment, "kubeconfig": args.kubeconfig, "count": args.count,
            "name_prefix": args.name_prefix, "dataplanes": args.dataplanes, "services": args.services,
            "mesh": args.mesh})
        if args.kds_ca_cert:
            config.kds.ca_cert = args.kds_ca_cert
        if args.kds_tls_skip_verify:
            config.kds.tls_skip_verify = True
        if args.dp_key_type:
            config.issuance.dp_key_type = args.dp_key_type
        config.issuance.check()
    except MzsimError as e:
        print(f"mzsim zone: {e}", file=sys.stderr)
        return 2
    if not config.name and args.count is None:
        print("mzsim zone: --name is required (or use --count N --name-prefix P)", file=sys.stderr)
        return 2
    if args.procs is not None and (args.procs < 1 or args.procs > 64):
        print(f"mzsim zone: --procs must be from 1 to 64, not {args.procs}", file=sys.stderr)
        return 2
    if (args.procs or 1) > 1 and (config.count or 0) < 2:
        print("mzsim zone: --procs P spreads --count N zones over P processes: add --count N (N >= 2)",
              file=sys.stderr)
        return 2
    shard = None
    if args.shard:
        try:
            shard = parse_shard(args.shard)
        except ValueError as e:
            print(f"mzsim zone: {e}", file=sys.stderr)
            return 2
        die_with_parent()
    problem = missing_token(config)
    if problem:
        print(f"mzsim zone: {problem}", file=sys.stderr)
        return 2
    if (args.procs or 1) > 1 and shard is None:
        return run_procs(args, config)
    from zone_cp.sqlite_memory import lean_page_cache

    lean_page_cache()  # before the first store opens: ~57 KB less per zone (zone_cp/sqlite_memory.py)
    try:
        asyncio.run(run(config, shard))
    except PortInUse as e:
        more = f" ({config.count} zones take consecutive ports from it)" if (config.count or 0) > 1 else ""
        print(f"mzsim zone: port {e.port} on {e.host} is already in use; choose another with --api-port "
              f"(MZSIM_API_PORT){more}", file=sys.stderr)
        return 2
    return 0
