"""CPU and RSS of running processes, read from /proc (Linux), for benchmarks."""
from __future__ import annotations

import os

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def tree_pids(root: int) -> list[int]:
    """`root` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


class ProcSampler:
    """CPU (% of one core, over the whole sampling) and RSS (max, last) per named group of pids."""

    def __init__(self, groups: dict[str, list[int]]):
        import time

        self._time = time.monotonic
        self.groups = groups
        self.t0 = self._time()
        self.cpu0 = {name: self._cpu(pids) for name, pids in groups.items()}
        self.rss: dict[str, list[int]] = {name: [] for name in groups}

    @staticmethod
    def _cpu(pids: list[int]) -> float:
        total = 0.0
        for pid in pids:
            try:
                total += cpu_seconds(pid)
            except OSError:
                pass
        return total

    def sample(self) -> None:
        for name, pids in self.groups.items():
            total = 0
            for pid in pids:
                try:
                    total += rss_bytes(pid)
                except OSError:
                    pass
            self.rss[name].append(total)
        self.t1 = self._time()
        self.cpu1 = {name: self._cpu(pids) for name, pids in self.groups.items()}

    def summary(self) -> dict[str, dict]:
        elapsed = max(1e-9, getattr(self, "t1", self._time()) - self.t0)
        cpu1 = getattr(self, "cpu1", self.cpu0)
        return {name: {"cpu_percent": round(100 * (cpu1[name] - self.cpu0[name]) / elapsed, 1),
                       "rss_mb_max": round(max(self.rss[name] or [0]) / 2**20, 1),
                       "rss_mb_last": round((self.rss[name] or [0])[-1] / 2**20, 1)} for name in self.groups}
