"""`mzsim acmpca serve`: moto's ACM PCA in this process (threaded werkzeug),
with the fixes of acmpca_moto.py and a small test API of its own:

    POST   /_faults    {"target": "ACMPrivateCA.IssueCertificate", "code": "ThrottlingException",
                        "count": 2, "status": 400, "message": "Rate exceeded", "phase": "before"}
    GET    /_faults    the faults still armed
    DELETE /_faults    disarm all
    GET    /_requests  the last requests: target, access key id, status, error code, certificate ARN
    DELETE /_requests  forget them

A fault answers the next `count` calls of `target` (an X-Amz-Target) with AWS's
JSON error shape. `phase: "after"` lets the call happen first and then answers
with the error, as when AWS acted but the answer was lost.

With --tls-cert-dir, it serves HTTPS with a certificate for 127.0.0.1 and
localhost, signed by `ca.pem` in that directory (made on first use).
"""
from __future__ import annotations

import collections
import ipaddress
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import asdict, dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

from common.x509util import cert_to_pem, generate_key, key_to_pem, make_ca, sign_csr

_DEFAULT_MESSAGES = {"ThrottlingException": "Rate exceeded"}
_DEFAULT_STATUS = {"InternalFailure": 500, "ServiceUnavailable": 503}


@dataclass
class Fault:
    target: str
    code: str
    count: int = 1
    status: int = 0
    message: str = ""
    phase: str = "before"

    @classmethod
    def parse(cls, doc) -> Fault:
        if not isinstance(doc, dict) or not doc.get("target") or not doc.get("code"):
            raise ValueError('a fault needs "target" (e.g. "ACMPrivateCA.IssueCertificate") and "code" '
                             '(e.g. "ThrottlingException")')
        fault = cls(target=str(doc["target"]), code=str(doc["code"]), count=int(doc.get("count", 1)),
                    status=int(doc.get("status") or _DEFAULT_STATUS.get(doc["code"], 400)),
                    message=str(doc.get("message") or _DEFAULT_MESSAGES.get(doc["code"], doc["code"])),
                    phase=str(doc.get("phase", "before")))
        if fault.phase not in ("before", "after") or fault.count < 1:
            raise ValueError('"phase" is "before" or "after", and "count" is at least 1')
        return fault


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._armed: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(fault)

    def take(self, target: str) -> Fault | None:
        """The first armed fault for `target`, counted down by one."""
        with self._lock:
            for fault in self._armed:
                if fault.target == target:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._armed.remove(fault)
                    return fault
        return None

    def listing(self) -> list[dict]:
        with self._lock:
            return [asdict(f) for f in self._armed]

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()


def access_key_of(environ: dict) -> str:
    """The access key id of a SigV4 request: `Credential=AKID/date/region/...`."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    marker = "Credential="
    if marker not in auth:
        return ""
    return auth.split(marker, 1)[1].split("/", 1)[0]


def _json(start_response, status: int, doc, headers: list | None = None):
    body = json.dumps(doc).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error",
              503: "Service Unavailable"}.get(status, "Error")
    start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(body)))] + (headers or []))
    return [body]


def _aws_error(start_response, fault: Fault):
    return _json(start_response, fault.status, {"__type": fault.code, "message": fault.message},
                 [("x-amzn-ErrorType", fault.code)])


class TestApi:
    """WSGI middleware: the fault and request-log endpoints, and faults on AWS calls."""

    def __init__(self, app, keep: int = 5000):
        self.app = app
        self.faults = Faults()
        self.requests: collections.deque = collections.deque(maxlen=keep)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_faults":
            return self._faults(environ, start_response)
        if path == "/_requests":
            if environ["REQUEST_METHOD"] == "DELETE":
                self.requests.clear()
            return _json(start_response, 200, {"requests": list(self.requests)})
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        entry = {"target": target, "access_key": access_key_of(environ)}
        fault = self.faults.take(target) if target else None
        if fault is not None and fault.phase == "before":
            self.requests.append({**entry, "status": fault.status, "error": fault.code, "fault": True})
            return _aws_error(start_response, fault)
        seen: list = []

        def capture(status, headers, exc_info=None):
            seen.append((status, headers))
            return lambda _data: None

        chunks = self.app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status, headers = seen[0]
        self.requests.append({**entry, **self._outcome(int(status.split()[0]), body), "fault": False})
        if fault is not None:  # phase "after": it happened, the caller hears an error
            self.requests.append({**entry, "status": fault.status, "error": fault.code, "fault": True})
            return _aws_error(start_response, fault)
        start_response(status, headers)
        return [body]

    @staticmethod
    def _outcome(status: int, body: bytes) -> dict:
        out = {"status": status}
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            return out
        if isinstance(doc, dict):
            if doc.get("__type"):
                out["error"] = doc["__type"]
            if doc.get("CertificateArn"):
                out["certificate_arn"] = doc["CertificateArn"]
        return out

    def _faults(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                fault = Fault.parse(json.loads(environ["wsgi.input"].read(length) or b"{}"))
            except ValueError as e:
                return _json(start_response, 400, {"error": str(e)})
            self.faults.add(fault)
        elif method == "DELETE":
            self.faults.clear()
        return _json(start_response, 200, {"faults": self.faults.listing()})


def ensure_tls_files(directory: str) -> tuple[str, str, str]:
    """(ca.pem, server.pem, server-key.pem) in `directory`, made once."""
    paths = tuple(os.path.join(directory, n) for n in ("ca.pem", "server.pem", "server-key.pem"))
    if all(os.path.exists(p) for p in paths):
        return paths  # type: ignore[return-value]
    os.makedirs(directory, exist_ok=True)
    ca_cert, ca_key = make_ca("mzsim acmpca serve CA", key_type="ec")
    key = generate_key("ec")
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
           .add_extension(x509.SubjectAlternativeName(sans), critical=False)
           .sign(key, hashes.SHA256()))
    leaf = sign_csr(csr, ca_cert, ca_key, 5 * 365 * 86400)
    for path, text in zip(paths, (cert_to_pem(ca_cert), cert_to_pem(leaf), key_to_pem(key)), strict=True):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    return paths  # type: ignore[return-value]


def build_app():
    # moto loads slowly and reads MOTO_* settings on import: only when serving.
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from .acmpca_moto import install

    install()
    return TestApi(DomainDispatcherApplication(create_backend_app))


def serve(port: int, host: str = "127.0.0.1", tls_cert_dir: str = "", access_log: bool = False) -> None:
    """Serve until SIGTERM or SIGINT."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    if not access_log:  # one line per request costs more than the request at 100/s
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    os.environ.setdefault("MOTO_PORT", str(port))
    ssl_context = None
    scheme = "http"
    if tls_cert_dir:
        _, cert, key = ensure_tls_files(tls_cert_dir)
        ssl_context, scheme = (cert, key), "https"
    server = make_server(host, port, build_app(), threaded=True, request_handler=MotoRequestHandler,
                         ssl_context=ssl_context)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"acmpca (moto) serving on {scheme}://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
