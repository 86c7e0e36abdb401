"""`mzsim token zone|user`: get a zone or user token from global's API."""
from __future__ import annotations

import sys
import urllib.error

from mzsim.api_client import ClientError, add_global_options, api_call, error_text, wait_for_global


def register(sub) -> None:
    p = sub.add_parser("token", help="generate tokens")
    tsub = p.add_subparsers(dest="token_kind", metavar="KIND")
    z = tsub.add_parser("zone", help="a zone token (a JWT signed by global), printed to stdout")
    z.add_argument("--zone", required=True, help="the zone the token is for (a DNS-1123 label, e.g. zone-1)")
    z.add_argument("--valid-for", default="24h", help="lifetime, e.g. 24h, 30d (default 24h; at most "
                   "global's tokens.max_valid_for, 1y by default)")
    add_global_options(z)
    z.set_defaults(func=main, path="/tokens/zone")
    u = tsub.add_parser("user", help="a user token for global's API (needs admin), printed to stdout")
    u.add_argument("--name", required=True, help="the user's name")
    u.add_argument("--group", action="append", default=[], help="a group the user is in; repeatable")
    u.add_argument("--valid-for", default="24h", help="lifetime, e.g. 24h, 30d (default 24h)")
    add_global_options(u)
    u.set_defaults(func=main, path="/tokens/user")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def main(args) -> int:
    prog = f"mzsim token {args.token_kind}"
    if not wait_for_global(args.global_api, args.wait_global, prog, args.api_ca_cert):
        return 1
    if args.token_kind == "zone":
        body = {"zone": args.zone, "validFor": args.valid_for}
    else:
        body = {"name": args.name, "groups": args.group, "validFor": args.valid_for}
    try:
        status, raw = api_call(args, "POST", args.path, body)
    except ClientError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except urllib.error.URLError as e:
        print(f"{prog}: cannot reach global at {args.global_api}: {e.reason}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{prog}: global refused ({status}): {error_text(raw)}", file=sys.stderr)
        return 1
    print(raw.decode().strip())
    return 0
