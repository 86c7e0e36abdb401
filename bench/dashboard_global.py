"""The dashboard's cost on a real global with N real zones: global's CPU with
no viewer, with SSE viewers, and with the page open in headless Chromium.

Starts a real global and one `mzsim zone --count N` process (plain ws://, as
docs/security.md advises for many zones on one box), one builtin mesh with one
dataplane per zone, waits until every zone is online and reports its
certificate, then reads global's CPU time (/proc/PID/stat) over `--window`
seconds in each case, side by side in one run. With Chromium it also times, in
the page, switching to the next page of zones (the render of 50 rows of a
1,000-zone table).

    python bench/dashboard_global.py [--zones 1000] [--window 20] [--viewers 5]

Writes bench/results/dashboard_global.json. The machine is shared: compare the
cases (measured one after the other in the same run), not the absolute figures."""
from __future__ import annotations

import argparse
import http.client as httpclient
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from urllib.parse import urlparse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.benchutil import machine, now_iso, progress, write_results  # noqa: E402
from mzsim.launcher import Global, Proc, http  # noqa: E402
from mzsim.waiting import free_port_range, wait_port, wait_until  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "dashboard_global.json")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def measure(pid: int, window: float) -> float:
    """Global's CPU, as a share of one core, over `window` seconds."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(window)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


class SseViewer(threading.Thread):
    """Reads /dashboard/stream and counts the bytes, as a browser would receive them."""

    def __init__(self, api: str) -> None:
        super().__init__(daemon=True)
        self.url, self.bytes, self.frames, self.stop = urlparse(api), 0, 0, threading.Event()

    def run(self) -> None:
        conn = httpclient.HTTPConnection(self.url.hostname, self.url.port, timeout=30)
        conn.request("GET", "/dashboard/stream")
        resp = conn.getresponse()
        while not self.stop.is_set():
            chunk = resp.read1(65536)
            if not chunk:
                break
            self.bytes += len(chunk)
            self.frames += chunk.count(b"\n\ndata: ") + chunk.startswith(b"data: ")
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zones", type=int, default=1000)
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--viewers", type=int, default=5)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="mzsim-bench-dashboard-")
    g = Global(workdir, env={"MZSIM_KDS_REQUIRE_ZONE_TOKEN": "false", "MZSIM_KDS_TLS_ENABLED": "false",
                             "MZSIM_KDS_HEARTBEAT_INTERVAL": "1s", "MZSIM_KDS_LIVENESS_TIMEOUT": "15s"})
    g.start()
    assert g.put("/meshes/m1", {"type": "Mesh", "name": "m1", "mtls": {
        "enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}})[0] == 201
    port = free_port_range(args.zones)
    zp = Proc(["zone", "--count", str(args.zones), "--name-prefix", "bz-", "--api-port", str(port),
               "--global-address", g.kds, "--data-dir", os.path.join(workdir, "zones"), "--dataplanes", "1",
               "--mesh", "m1"], os.path.join(workdir, "zones.log"),
              {"MZSIM_KDS_HEARTBEAT_INTERVAL": "1s", "MZSIM_KDS_LIVENESS_TIMEOUT": "15s"})
    result: dict = {"bench": "dashboard_global", "when": now_iso(), "machine": machine(), "zones": args.zones,
                    "window_s": args.window}
    try:
        started = time.monotonic()
        zp.start()
        progress(f"starting {args.zones} zones ...")
        wait_port(port + args.zones - 1, timeout=600)
        wait_until(lambda: (s := http("GET", g.api + "/dashboard/state", timeout=60)[1]) and
                   sum(c["valid"] for c in s["cells"]) == args.zones and
                   sum(z["state"] == "online" for z in s["zones"]) == args.zones, 600, interval=2,
                   what=f"{args.zones} zones online with their certificate on the dashboard")
        result["zones_up_s"] = round(time.monotonic() - started, 1)
        progress(f"  up in {result['zones_up_s']} s; letting the insights settle ...")
        time.sleep(5)
        assert g.proc is not None and g.proc.popen is not None
        pid = g.proc.popen.pid
        progress("global's CPU, no viewer ...")
        result["global_cpu_share_no_viewer"] = round(measure(pid, args.window), 4)
        viewers = [SseViewer(g.api) for _ in range(args.viewers)]
        for v in viewers:
            v.start()
        time.sleep(3)  # past the snapshots
        b0 = sum(v.bytes for v in viewers)
        progress(f"global's CPU, {args.viewers} stream viewers ...")
        result[f"global_cpu_share_{args.viewers}_stream_viewers"] = round(measure(pid, args.window), 4)
        result["stream_bytes_per_viewer_per_s"] = round((sum(v.bytes for v in viewers) - b0) / args.viewers
                                                        / args.window)
        for v in viewers:
            v.stop.set()
        time.sleep(2)
        progress("global's CPU, polling /status/zones + /global-insight once a second (the old page) ...")

        def old_page(stop: threading.Event) -> None:
            while not stop.is_set():
                http("GET", g.api + "/status/zones", timeout=30)
                http("GET", g.api + "/global-insight", timeout=30)
                stop.wait(1.0)
        stop = threading.Event()
        threading.Thread(target=old_page, args=(stop,), daemon=True).start()
        result["global_cpu_share_1_old_polling_page"] = round(measure(pid, args.window), 4)
        stop.set()
        browser_case(g, pid, args, result)
    finally:
        zp.stop()
        g.proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    write_results(RESULTS, result)
    print(json.dumps(result, indent=2))
    return 0


def browser_case(g: Global, pid: int, args: argparse.Namespace, result: dict) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        result["browser"] = "skipped: playwright is not installed"
        return
    if not os.path.exists("/usr/bin/chromium"):
        result["browser"] = "skipped: /usr/bin/chromium is missing"
        return
    progress("global's CPU with the page open in headless Chromium ...")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.monotonic()
        page.goto(g.api + "/dashboard")
        page.wait_for_function(f"document.getElementById('page').textContent.includes('({args.zones} zones)')",
                               timeout=120_000)
        result["browser_first_render_s"] = round(time.monotonic() - t0, 2)
        result["global_cpu_share_chromium_page_open"] = round(measure(pid, args.window), 4)
        # Next page: the click's handler, the render of 50 rows and the mesh matrix, measured in the page.
        ms = page.evaluate("""() => new Promise(done => {
            const t = performance.now();
            document.getElementById('next').click();
            requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t)));
        })""")
        result["browser_next_page_ms"] = round(ms, 1)
        b.close()


if __name__ == "__main__":
    sys.exit(main())
