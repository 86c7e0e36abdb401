"""What the commands that call global's API share: the --global-api,
--wait-global, --api-token-file and --api-ca-cert options, the request itself
(with the user token and TLS trust), and waiting (bounded) for global to
listen, so a command run right after `mzsim global &` does not fail on a
refused connection."""
from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from typing import Any

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
    p.add_argument("--api-token-file", default=os.environ.get("MZSIM_API_TOKEN_FILE", ""), metavar="FILE",
                   help="file with a user token for global's API (e.g. global's data-dir/admin-user-token); "
                   "MZSIM_API_TOKEN may hold the token itself. Without one, global treats a loopback caller "
                   "as admin (api.authn.localhost_is_admin) and anyone else as anonymous")
    p.add_argument("--api-ca-cert", default=os.environ.get("MZSIM_API_CA_CERT", ""), metavar="FILE",
                   help="CA certificate to verify global's HTTPS API with (default: the system trust store)")


class ClientError(Exception):
    """A client option is unusable (an unreadable token file); the message says which."""


def api_token(args: argparse.Namespace) -> str:
    path = getattr(args, "api_token_file", "") or ""
    if path:
        try:
            with open(path) as f:
                token = f.read(64 * 1024).strip()
        except OSError as e:
            raise ClientError(f"cannot read --api-token-file {path}: {e.strerror}") from None
        if not token:
            raise ClientError(f"--api-token-file {path} is empty; it should hold a user token "
                              "(mzsim token user, or global's data-dir/admin-user-token)")
        return token
    return os.environ.get("MZSIM_API_TOKEN", "").strip()


def ssl_context(ca_file: str = "") -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as e:
        raise ClientError(f"cannot load --api-ca-cert {ca_file}: {e}") from None


def request(method: str, url: str, body: Any = None, *, token: str = "", ca_file: str = "",
            timeout: float = 10.0, content_type: str = "application/json") -> tuple[int, bytes]:
    """(status, raw body). HTTP error statuses are returned, not raised; an
    unreachable global raises urllib.error.URLError."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else
                                                     json.dumps(body).encode())
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    ctx = ssl_context(ca_file) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def api_call(args: argparse.Namespace, method: str, path: str, body: Any = None,
             timeout: float = 10.0) -> tuple[int, bytes]:
    """One call on global's API with the command's --global-api, token and CA."""
    return request(method, args.global_api.rstrip("/") + path, body, token=api_token(args),
                   ca_file=getattr(args, "api_ca_cert", ""), timeout=timeout)


def error_text(raw: bytes) -> str:
    """Global's error body (Kuma's AIP-193 shape, or the older one) as one line per invalid field."""
    try:
        err = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()
    if not isinstance(err, dict):
        return str(err)
    lines = [str(err.get("detail") or err.get("details") or err.get("title") or "")]
    params = err.get("invalid_parameters")
    if isinstance(params, list):  # AIP-193; older servers only send `causes`
        lines += [f"  {p.get('field')}: {p.get('reason')}" for p in params if isinstance(p, dict)]
    else:
        lines += [f"  {c.get('field')}: {c.get('message')}" for c in err.get("causes") or [] if isinstance(c, dict)]
    return "\n".join(lines)


def wait_for_global(api: str, timeout: float, prog: str, ca_file: str = "") -> bool:
    """True once global answers HTTP at `api` (any status); False, with one line
    on stderr, if it does not within `timeout` seconds. Says on stderr that it
    waits, and every few seconds how long it has waited."""
    start = time.monotonic()
    next_progress = 0.0
    while True:
        try:
            ctx = ssl_context(ca_file) if api.startswith("https:") else None
            with urllib.request.urlopen(api.rstrip("/") + "/", timeout=2, context=ctx):
                return True
        except urllib.error.HTTPError:
            return True  # it answers: the request itself will say what is wrong
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, ssl.SSLError):  # waiting will not fix a certificate
                print(f"{prog}: TLS with global at {api} failed: {reason}; pass the CA that signed global's "
                      "API certificate with --api-ca-cert", file=sys.stderr)
                return False
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
