"""What wss:// costs against ws:// per zone connection, on loopback: the time
to open a websocket (TCP + TLS + upgrade) and the server's resident memory
per open connection, with a certificate like the one global generates (EC P-256).

    python bench/kds_tls_connect.py [--connections 300]

Prints one JSON line and writes bench/results/kds_tls_connect.json."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import tempfile
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from global_cp.tls import ensure_kds_certs, server_context


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


async def run(n: int, tls: bool, data_dir: str) -> dict[str, float]:
    server_ctx = client_ctx = None
    if tls:
        cert, key = ensure_kds_certs(data_dir, ["127.0.0.1"])
        server_ctx = server_context(cert, key, "KDS")
        client_ctx = ssl.create_default_context(cafile=os.path.join(data_dir, "kds-ca.crt"))

    async def echo(ws):
        await ws.wait_closed()

    async with serve(echo, "127.0.0.1", 0, ssl=server_ctx, ping_interval=None, compression=None) as server:
        port = list(server.sockets)[0].getsockname()[1]
        url = f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/kds"
        before = rss_kib()
        times, open_ = [], []
        for _ in range(n):
            t0 = time.perf_counter()
            ws = await connect(url, ssl=client_ctx, ping_interval=None, compression=None)
            times.append(time.perf_counter() - t0)
            open_.append(ws)
        grown = rss_kib() - before
        for ws in open_:
            await ws.close()
    # client and server live in this process: memory is for both ends of each connection
    return {"connect_ms_median": round(statistics.median(times) * 1000, 2),
            "connect_ms_p95": round(sorted(times)[int(n * 0.95)] * 1000, 2),
            "rss_kib_per_connection_both_ends": round(grown / n, 1)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--connections", type=int, default=300)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        out = {"connections": a.connections, "ws": asyncio.run(run(a.connections, False, d)),
               "wss": asyncio.run(run(a.connections, True, d))}
    print(json.dumps(out))
    os.makedirs("bench/results", exist_ok=True)
    with open("bench/results/kds_tls_connect.json", "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
