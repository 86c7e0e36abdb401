"""`mzsim demo` is where people try faults: it must outlive them."""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading

import pytest

from mzsim.waiting import wait_until


class Lines:
    """The demo's stdout, read on a thread so the test can wait for lines with a bound."""

    def __init__(self, proc: subprocess.Popen):
        self.seen: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=lambda: [self._q.put(x) for x in proc.stdout], daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while not self._q.empty():
            self.seen.append(self._q.get())

    def all(self) -> str:
        """Everything, once the demo has exited."""
        self._reader.join(timeout=10)
        self._drain()
        return "".join(self.seen)

    def wait_for(self, pattern: str, timeout: float, since: int = 0) -> re.Match:
        def found():
            self._drain()
            return next((m for x in self.seen[since:] if (m := re.search(pattern, x))), None)

        return wait_until(found, timeout, interval=0.1, what=f"demo output matching {pattern!r}")


@pytest.mark.multiprocess
def test_the_demo_survives_a_killed_zone_and_a_paused_global_and_shows_nacks(tmp_path):
    data = tmp_path / "demo"
    demo = subprocess.Popen([sys.executable, "-m", "mzsim", "demo", "--duration", "35", "--zones", "2",
                             "--dataplanes", "2", "--backends", "builtin,certmanager", "--restart-dead",
                             "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out = Lines(demo)
    try:
        pids = out.wait_for(r"processes: global pid (\d+)  zone-1 pid (\d+)  zone-2 pid (\d+)", 90)
        global_pid, zone2_pid = int(pids.group(1)), int(pids.group(3))
        # zone-2 is universal: it rejects the certmanager mesh, and the demo says so.
        out.wait_for(r"zone-2 NACKed: .*certmanager", 20)
        out.wait_for(r"NACKed 1: zone-2", 20)
        os.kill(zone2_pid, signal.SIGKILL)
        out.wait_for(r"zone-2 exited .*restarting it", 10)
        out.wait_for(r"zone-2 restarted \(pid \d+\)", 30)
        out.wait_for(r"zones online 2/2", 20)
        os.kill(global_pid, signal.SIGSTOP)  # longer than the summary's 3 s request timeout
        try:
            out.wait_for(r"^global unreachable", 15)
        finally:
            os.kill(global_pid, signal.SIGCONT)
        # global is back in the summary (on a loaded machine the 35 s run may end first: its final line counts)
        out.wait_for(r"^(final: )?zones online 2/2", 20, since=len(out.seen))
        demo.wait(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(timeout=30)
    text = out.all()
    assert demo.returncode == 0, text
    assert "Traceback" not in text and "failed:" not in text, text
    assert re.search(r"final: zones online 2/2", text), text
    assert "all stopped" in text, text
