"""`mzsim token zone`: get a zone token from global's API."""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request


def register(sub) -> None:
    p = sub.add_parser("token", help="generate tokens")
    tsub = p.add_subparsers(dest="token_kind", metavar="KIND")
    z = tsub.add_parser("zone", help="a zone token (a JWT signed by global), printed to stdout")
    z.add_argument("--zone", required=True, help="the zone the token is for")
    z.add_argument("--valid-for", default="24h", help="lifetime, e.g. 24h, 30d (default 24h)")
    z.add_argument("--global-api", default="http://127.0.0.1:5681", help="global's API (default %(default)s)")
    z.set_defaults(func=main)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def main(args) -> int:
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
