"""IssueCertificate + GetCertificate per second: stock `moto_server` against
`mzsim acmpca serve`, each a real process on loopback, driven by boto3 from
`--threads` threads (EC P-256 CSRs made beforehand, so only the server is
measured). Also times moto's per-call CA key load, the cost the launcher caches.

    python bench/acmpca_rate.py [--seconds 5] [--threads 4]

Writes bench/results/acmpca_rate.json.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.benchutil import write_results  # noqa: E402
from common.ca.acmpca.client import make_client  # noqa: E402
from common.x509util import Identity, build_csr, csr_to_pem, generate_key  # noqa: E402
from mzsim.launcher import Proc  # noqa: E402
from mzsim.setup.acmpca import setup_acmpca  # noqa: E402
from mzsim.waiting import free_port, wait_until  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results", "acmpca_rate.json")
CREDS = {"access_key": "AKIABENCH", "secret_key": "x"}


def start(kind: str, port: int, log: str) -> Proc:
    if kind == "stock":
        moto = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
        proc = Proc(["-H", "127.0.0.1", "-p", str(port)], log, program=moto, cwd=ROOT).start()
        probe = "/moto-api/"
    else:
        proc = Proc(["acmpca", "serve", "--port", str(port)], log, cwd=ROOT).start()
        probe = "/_requests"
    wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=1).status == 200,
               30, what=f"{kind} server")
    return proc


def rate(endpoint: str, key_algorithm: str, seconds: float, threads: int) -> dict:
    ca = setup_acmpca(endpoint, key_algorithm=key_algorithm, **CREDS)
    signing = "SHA256WITHECDSA" if key_algorithm.startswith("EC") else "SHA256WITHRSA"
    client = make_client("us-east-1", endpoint_url=endpoint, pool_size=threads, **CREDS)
    csrs = [csr_to_pem(build_csr(Identity("m", "d", {"kuma.io/service": [f"s{i}"]}), generate_key("ec"))).encode()
            for i in range(64)]
    done = [0] * threads
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        while time.monotonic() < stop:
            arn = client.issue_certificate(CertificateAuthorityArn=ca.arn, Csr=csrs[done[i] % len(csrs)],
                                           SigningAlgorithm=signing, Validity={"Type": "DAYS", "Value": 1},
                                           TemplateArn="arn:aws:acm-pca:::template/EndEntityCertificate/V1")
            client.get_certificate(CertificateAuthorityArn=ca.arn, CertificateArn=arn["CertificateArn"])
            done[i] += 1

    started = time.monotonic()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - started
    return {"issue_get_per_second": round(sum(done) / elapsed, 1), "operations": sum(done),
            "seconds": round(elapsed, 2)}


def moto_key_load_ms(samples: int = 20) -> float:
    """moto decrypts its CA key (BestAvailableEncryption PEM) on every `key` use."""
    from moto.acmpca.models import CertificateAuthority

    ca = CertificateAuthority("us-east-1", "123456789012", {"Subject": {"CommonName": "x"}}, "ROOT", {}, None)
    started = time.perf_counter()
    for _ in range(samples):
        ca.key  # noqa: B018 - the property is the cost
    return round((time.perf_counter() - started) / samples * 1000, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-acmpca-")
    results: dict = {"host": platform.node(), "cpus": os.cpu_count(), "threads": args.threads,
                     "moto_ca_key_load_ms": moto_key_load_ms(), "servers": {}}
    for kind, key_algorithms in (("stock", ["RSA_2048"]), ("launcher", ["RSA_2048", "EC_prime256v1"])):
        port = free_port()
        proc = start(kind, port, os.path.join(workdir, f"{kind}.log"))
        try:
            for key_algorithm in key_algorithms:
                figure = rate(f"http://127.0.0.1:{port}", key_algorithm, args.seconds, args.threads)
                results["servers"][f"{kind} {key_algorithm}"] = figure
                print(f"{kind:8} {key_algorithm:14} {figure['issue_get_per_second']:7.1f} issue+get/s", flush=True)
        finally:
            proc.stop()
    write_results(RESULTS, results)
    print(f"moto CA key load: {results['moto_ca_key_load_ms']} ms per call; written to {RESULTS}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
