"""`mzsim validate`: check resource files offline, with the rules global applies."""
from __future__ import annotations

import argparse
import sys
from typing import TextIO

from common.errors import MzsimError, ValidationError
from common.resources import load_documents, parse_resource
from common.validation import validate_resource

EPILOG = """\
output (stdout), one line each:
  FILE: KIND NAME: valid          a valid resource
  FILE: FIELD: MESSAGE            a violation; every violation is listed
  FILE[N]: ...                    the same, for the N-th resource (from 1) of a
                                  file holding several YAML documents
Field paths are relative to the spec, as Kuma reports them, e.g.
mtls.backends[0].conf.fromCp.auth.

Offline: data sources (secret, file) are checked for shape only and are not
read, so referenced secrets and files need not exist here; backends are not
contacted. `mzsim apply` checks those on global.

exit status: 0 when every resource is valid; 1 when any is invalid, or a file
cannot be read or parsed (the line and column are shown)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="validate resource files (Universal or Kubernetes form) offline",
        description="Validate Mesh, Secret, Zone, Dataplane and insight resources without a control plane.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-f", "--file", dest="files", action="extend", nargs="+", required=True,
                   metavar="FILE", help="YAML or JSON files, each possibly with several documents; "
                   "'-' reads stdin; -f may be repeated")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ok = True
    for name in args.files:
        ok = validate_file(name, sys.stdout) and ok
    return 0 if ok else 1


def _read(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    with open(name, encoding="utf-8") as f:
        return f.read()


def validate_file(name: str, out: TextIO) -> bool:
    """Print one line per valid resource and per violation; True if all valid."""
    label = "<stdin>" if name == "-" else name
    try:
        text = _read(name)
    except (OSError, UnicodeDecodeError) as e:
        out.write(f"{label}: cannot read: {getattr(e, 'strerror', None) or e}\n")
        return False
    try:
        docs = load_documents(text, label)
    except MzsimError as e:
        out.write(f"{e.details}\n")  # names the file, the line and the column
        return False
    if not docs:
        out.write(f"{label}: no resources found; expected a YAML or JSON document\n")
        return False
    ok = True
    for i, doc in enumerate(docs, start=1):
        where = f"{label}[{i}]" if len(docs) > 1 else label
        try:
            res = parse_resource(doc)
            violations = validate_resource(res)
        except ValidationError as e:
            violations = e.causes
            res = None
        if violations:
            ok = False
            for v in violations:
                out.write(f"{where}: {v}\n")
        else:
            out.write(f"{where}: {res.kind} {res.name}: valid\n")
    return ok

