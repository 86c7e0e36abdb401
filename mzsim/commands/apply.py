"""`mzsim apply -f FILE`: PUT resources on global's API, like kumactl apply."""
from __future__ import annotations

import json
import sys
import urllib.error

from common.errors import MzsimError
from common.resources import global_api_path, load_documents, parse_resource, to_universal
from mzsim.api_client import ClientError, add_global_options, api_call, error_text, wait_for_global


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
                if not wait_for_global(args.global_api, args.wait_global, "mzsim apply", args.api_ca_cert):
                    return 1
                waited = True
            try:
                status, raw = api_call(args, "PUT", path, to_universal(res), timeout=60)
            except ClientError as e:
                print(f"mzsim apply: {e}", file=sys.stderr)
                return 2
            except urllib.error.URLError as e:
                print(f"cannot reach global at {args.global_api}: {e.reason}", file=sys.stderr)
                return 1
            if status in (200, 201):
                try:
                    reply = json.loads(raw or b"{}")
                except ValueError:
                    reply = {}
                print(f"{res.kind} {res.name} {'created' if status == 201 else 'updated'}")
                for w in reply.get("warnings") or []:
                    print(f"  warning: {w}")
            else:
                failed += 1
                print(f"{fname}: {res.kind} {res.name}: HTTP {status}: {error_text(raw)}", file=sys.stderr)
    return 1 if failed else 0
