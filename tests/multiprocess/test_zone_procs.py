"""`mzsim zone --count N --procs P` as real processes: the zones spread over P
children; SIGTERM stops them all; a child that dies is reported and takes the
others down; a parent killed with -9 leaves no orphans."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from mzsim.launcher import Proc, http
from mzsim.waiting import free_port_range, wait_until

READY = "mzsim zone ready: 5 zones in 2 processes"


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, ValueError):
                pass
    return out


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has exited
    except FileNotFoundError:
        return True


def start(tmp_path, name: str = "zones") -> tuple[Proc, int, list[int]]:
    port = free_port_range(5)
    p = Proc(["zone", "--count", "5", "--procs", "2", "--api-port", str(port), "--data-dir",
              str(tmp_path / name)], str(tmp_path / f"{name}.log")).start()
    wait_until(lambda: READY in p.log() or p.exited(), 60, what="the parent's ready line")
    assert p.alive(), p.log()
    kids = children_of(p.popen.pid)
    assert len(kids) == 2, kids
    return p, port, kids


def test_zones_spread_over_children_and_sigterm_stops_them_all(tmp_path):
    p, port, kids = start(tmp_path)
    try:
        # Every zone answers on its own port, with the name one process would give it.
        assert [http("GET", f"http://127.0.0.1:{port + i}/")[1]["zone"] for i in range(5)] == \
            [f"zone-{i}" for i in range(1, 6)]
        # ... and they live in two different processes: 2 zones in the first child, 3 in the second.
        log = p.log()
        assert "[1/2] zone process ready: zone-1, zone-2 " in log
        assert "[2/2] zone process ready: zone-3, zone-4, zone-5 " in log
        os.kill(p.popen.pid, signal.SIGTERM)  # the parent only, not its process group
        assert p.popen.wait(timeout=30) == 0
        assert all(gone(k) for k in kids)
        assert "shutting down 2 zone processes" in p.log()
    finally:
        p.kill()


def test_a_child_that_dies_is_reported_and_the_others_stop(tmp_path):
    p, _, kids = start(tmp_path)
    try:
        os.kill(kids[0], signal.SIGKILL)
        assert p.popen.wait(timeout=30) == 1
        wait_until(lambda: all(gone(k) for k in kids), 20, what="the other child stopped")
        assert f"(pid {kids[0]}, zones zone-" in p.log() and "was killed by SIGKILL" in p.log()
    finally:
        p.kill()


def test_a_parent_killed_with_sigkill_leaves_no_orphans(tmp_path):
    p, _, kids = start(tmp_path)
    try:
        os.kill(p.popen.pid, signal.SIGKILL)
        p.popen.wait(timeout=10)
        wait_until(lambda: all(gone(k) for k in kids), 30, what="children exited after their parent")
    finally:
        p.kill()


def test_procs_without_count_is_refused_with_how_to_fix():
    r = subprocess.run([sys.executable, "-m", "mzsim", "zone", "--name", "z", "--procs", "2"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "add --count N" in r.stderr
    r = subprocess.run([sys.executable, "-m", "mzsim", "zone", "--count", "3", "--procs", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--procs must be from 1 to 64, not 0" in r.stderr
