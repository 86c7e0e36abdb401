"""`mzsim token zone`: get a zone token from global's API."""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from mzsim.api_client import add_global_options, wait_for_global


def register(sub) -> None:
    p = sub.add_parser("token", help="generate tokens")
    tsub = p.add_subparsers(dest="token_kind", metavar="KIND")
    z = tsub.add_parser("zone", help="a zone token (a JWT signed by global), printed to stdout")
    z.add_argument("--zone", required=True, help="the zone the token is for")
    z.add_argument("--valid-for", default="24h", help="lifetime, e.g. 24h, 30d (default 24h)")
    add_global_options(z)
    z.set_defaults(func=main)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def main(args) -> int:
    if not wait_for_global(args.global_api, args.wait_global, "mzsim token zone"):
        return 1
    body = json.dumps({"zone": args.zone, "validFor": args.valid_for}).encode()
    req = urllib.request.Request(args.global_api.rstrip("/") + "/tokens/zone", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            print(resp.read().decode().strip())
            return 0
    except urllib.error.HTTPError as e:
        print(f"mzsim token zone: global refused ({e.code}): {e.read().decode(errors='replace')}", file=sys.stderr)
    except urllib.error.URLError as e:
        print(f"mzsim token zone: cannot reach global at {args.global_api}: {e.reason}", file=sys.stderr)
    return 1
