"""What `mzsim get`, `inspect` and `delete` share (in kumactl's manner): one
GET on global's API with the usual token/CA options, and the three output
formats, `-o table|json|yaml`."""
from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from common.timefmt import parse_time

from .api_client import ClientError, add_global_options, api_call, error_text, wait_for_global

FORMATS = ("table", "json", "yaml")


class CommandError(Exception):
    """Ends the command: the message for stderr, and the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", choices=FORMATS, default="table", help="output format (default table)")
    add_global_options(p)


def seg(name: str) -> str:
    """One path segment of a name (a name with '/' or '?' cannot escape it)."""
    return quote(name, safe="")


def call(args: argparse.Namespace, method: str, path: str, prog: str) -> Any:
    if not getattr(args, "_waited", False):
        if not wait_for_global(args.global_api, args.wait_global, prog, args.api_ca_cert):
            raise CommandError("")
        args._waited = True
    try:
        status, raw = api_call(args, method, path)
    except ClientError as e:
        raise CommandError(f"{prog}: {e}", 2) from None
    except urllib.error.URLError as e:
        raise CommandError(f"{prog}: cannot reach global at {args.global_api}: {e.reason}") from None
    if status >= 400:
        raise CommandError(f"{prog}: {method} {path}: HTTP {status}: {error_text(raw)}")
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        raise CommandError(f"{prog}: {method} {path}: global answered something that is not JSON") from None


def get(args: argparse.Namespace, path: str, prog: str) -> Any:
    return call(args, "GET", path, prog)


def items(args: argparse.Namespace, path: str, prog: str) -> list[dict[str, Any]]:
    body = get(args, path, prog)
    return [i for i in (body.get("items") or []) if isinstance(i, dict)] if isinstance(body, dict) else []


def ago(text: object, now: float | None = None) -> str:
    """An RFC 3339 time as kumactl writes ages: 5s, 3m, 2h, 4d; 'never' when absent."""
    if not isinstance(text, str) or not text:
        return "never"
    try:
        t = parse_time(text).timestamp()
    except ValueError:
        return "?"
    return duration(max(0.0, (now or time.time()) - t))


def duration(s: float) -> str:
    if s < 60:
        return f"{int(s)}s"
    if s < 3600:
        return f"{int(s // 60)}m"
    if s < 86400:
        return f"{int(s // 3600)}h"
    return f"{int(s // 86400)}d"


def until(text: object) -> str:
    """A future RFC 3339 time as 'in 3h' (or 'expired 2m ago')."""
    if not isinstance(text, str) or not text:
        return "-"
    try:
        left = parse_time(text).timestamp() - time.time()
    except ValueError:
        return "?"
    return f"in {duration(left)}" if left >= 0 else f"expired {duration(-left)} ago"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[("" if c is None else str(c)).replace("\n", " ") for c in r]
                                           for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def emit(args: argparse.Namespace, data: Any, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    if args.output == "json":
        print(json.dumps(data, indent=2))
    elif args.output == "yaml":
        import yaml  # only when asked for: every process start builds this command's parser

        print(yaml.safe_dump(data, sort_keys=False).rstrip())
    else:
        print(table(headers, rows))


def run(fn: Any, args: argparse.Namespace) -> int:
    try:
        return int(fn(args) or 0)
    except CommandError as e:
        if str(e):
            print(str(e), file=sys.stderr)
        return e.code
