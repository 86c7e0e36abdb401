"""What the commands that call global's API share: the --global-api and
--wait-global options, and waiting (bounded) for global to listen, so a command
run right after `mzsim global &` does not fail on a refused connection."""
from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request

from common.durations import parse_duration

DEFAULT_API = "http://127.0.0.1:5681"
DEFAULT_WAIT = "30s"
PROGRESS_EVERY = 5.0


def seconds(text: str) -> float:
    """'30s', '2m' or a plain number of seconds."""
    try:
        return float(text)
    except ValueError:
        return parse_duration(text)


def add_global_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--global-api", default=os.environ.get("MZSIM_GLOBAL_API", DEFAULT_API),
                   help=f"global's API (default $MZSIM_GLOBAL_API or {DEFAULT_API})")
    p.add_argument("--wait-global", type=seconds, default=os.environ.get("MZSIM_WAIT_GLOBAL", DEFAULT_WAIT),
                   metavar="DURATION", help="how long to wait for global to accept connections, e.g. 30s; "
                   f"0: do not wait (default $MZSIM_WAIT_GLOBAL or {DEFAULT_WAIT})")


def wait_for_global(api: str, timeout: float, prog: str) -> bool:
    """True once global answers HTTP at `api` (any status); False, with one line
    on stderr, if it does not within `timeout` seconds. Says on stderr that it
    waits, and every few seconds how long it has waited."""
    start = time.monotonic()
    next_progress = 0.0
    while True:
        try:
            with urllib.request.urlopen(api.rstrip("/") + "/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers: the request itself will say what is wrong
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
        waited = time.monotonic() - start
        if waited >= timeout:
            print(f"{prog}: cannot reach global at {api}: {reason}"
                  + (f" (waited {timeout:g}s; raise it with --wait-global or MZSIM_WAIT_GLOBAL)" if timeout else ""),
                  file=sys.stderr)
            return False
        if waited >= next_progress:
            print(f"{prog}: waiting for global at {api} ({waited:.0f}s of {timeout:g}s) ...", file=sys.stderr,
                  flush=True)
            next_progress += PROGRESS_EVERY
        time.sleep(min(0.2, max(0.0, timeout - waited)))
