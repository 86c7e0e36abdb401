"""`mzsim apply -f FILE`: PUT resources on global's API, like kumactl apply."""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from common.errors import MzsimError
from common.resources import global_api_path, load_documents, parse_resource, to_universal
from mzsim.api_client import add_global_options, wait_for_global


def register(sub) -> None:
    p = sub.add_parser("apply", help="apply resources (Universal or Kubernetes YAML/JSON) on global",
                       description="Send each resource in the files to global's API. Global validates it, "
                       "test-issues from new mTLS backends, stores it and syncs it to zones.")
    p.add_argument("-f", "--file", action="append", required=True, help="file to apply ('-' for stdin); repeatable")
    add_global_options(p)
    p.set_defaults(func=main)


def main(args) -> int:
    failed = 0
    waited = False
    for fname in args.file:
        try:
            text = sys.stdin.read() if fname == "-" else open(fname).read()
            resources = [parse_resource(d) for d in load_documents(text, fname)]
        except (OSError, MzsimError) as e:
            print(f"{fname}: {e}", file=sys.stderr)
            failed += 1
            continue
        for res in resources:
            try:
                path = global_api_path(res)
            except MzsimError as e:
                print(f"{fname}: {res.kind} {res.name}: {e}", file=sys.stderr)
                failed += 1
                continue
            if not waited:
                if not wait_for_global(args.global_api, args.wait_global, "mzsim apply"):
                    return 1
                waited = True
            body = json.dumps(to_universal(res)).encode()
            req = urllib.request.Request(args.global_api.rstrip("/") + path, data=body, method="PUT",
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    reply = json.loads(resp.read() or b"{}")
                    verb = "created" if resp.status == 201 else "updated"
                    print(f"{res.kind} {res.name} {verb}")
                    for w in reply.get("warnings") or []:
                        print(f"  warning: {w}")
            except urllib.error.HTTPError as e:
                failed += 1
                try:
                    err = json.loads(e.read())
                    print(f"{fname}: {res.kind} {res.name}: {err.get('details')}", file=sys.stderr)
                    for c in err.get("causes") or []:
                        print(f"  {c['field']}: {c['message']}", file=sys.stderr)
                except ValueError:
                    print(f"{fname}: {res.kind} {res.name}: HTTP {e.code}", file=sys.stderr)
            except urllib.error.URLError as e:
                print(f"cannot reach global at {args.global_api}: {e.reason}", file=sys.stderr)
                return 1
    return 1 if failed else 0
