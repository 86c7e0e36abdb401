"""Container health checks for docker-compose.yml (the images have no curl).

  healthcheck.py URL [--ca FILE] [--file PATH]...   healthy when URL answers below 500
                                                     (and every PATH exists)
  healthcheck.py --process NAME URL [--ca FILE]     a process whose command line holds
                                                     NAME runs, and URL answers
Exit 0 healthy, 1 not, with the reason on stdout (docker inspect shows it)."""
from __future__ import annotations

import argparse
import os
import ssl
import sys
import urllib.error
import urllib.request


def running(name: str) -> bool:
    me = str(os.getpid())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read(4096).split(b"\0")
        except OSError:
            continue
        if pid != me and name.encode() in argv:
            return True
    return False


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--ca", help="CA file that signed the URL's TLS certificate")
    p.add_argument("--file", action="append", default=[], help="a file that must exist; repeatable")
    p.add_argument("--process", help="a program name that must be running in this container")
    a = p.parse_args()
    missing = [f for f in a.file if not os.path.exists(f)]
    if missing:
        print(f"not yet written: {', '.join(missing)}")
        return 1
    if a.process and not running(a.process):
        print(f"{a.process} is not running")
        return 1
    ctx = ssl.create_default_context(cafile=a.ca) if a.ca else None
    try:
        with urllib.request.urlopen(a.url, timeout=2, context=ctx) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except (OSError, ValueError) as e:
        print(f"{a.url}: {e}")
        return 1
    if status >= 500:
        print(f"{a.url}: HTTP {status}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
