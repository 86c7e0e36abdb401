"""`mzsim demo`: the embedded default: global + 3 zones + a builtin-CA mesh."""
from __future__ import annotations

from mzsim.api_client import seconds


def register(sub) -> None:
    p = sub.add_parser("demo", help="run a multizone demo on this machine (no external services needed)",
                       description="Start a global control plane and zones as processes, apply meshes, give "
                       "each zone simulated dataplanes, and print a live summary of zones and certificates. "
                       "Stops every process it started on Ctrl-C or after --duration.")
    p.add_argument("--zones", type=int, default=3, help="number of zones (default 3)")
    p.add_argument("--dataplanes", type=int, default=20, help="simulated dataplanes per zone and mesh (default 20)")
    p.add_argument("--services", type=int, default=4, help="services the dataplanes spread over (default 4)")
    p.add_argument("--backends", default="builtin",
                   help="comma-separated mesh backends: builtin, vault, acmpca, certmanager (default builtin)")
    p.add_argument("--cert-lifetime", default="1m",
                   help="data plane certificate lifetime; renewal at 4/5 of it (default 1m, to show rotation)")
    p.add_argument("--duration", type=seconds, default=0,
                   help="stop after this long, e.g. 30s or 30 (default: run until Ctrl-C)")
    p.add_argument("--restart-dead", action="store_true",
                   help="restart global or a zone that exits (e.g. after kill -9); by default the demo goes on "
                   "without it and shows it offline")
    p.add_argument("--data-dir", help="keep stores and logs here (default: a temporary directory, removed at exit)")
    p.set_defaults(func=main)


def main(args) -> int:
    from mzsim.demo.runner import Demo

    return Demo(args).run()
