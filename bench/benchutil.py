"""Helpers the benchmarks share: progress lines, medians, the machine, and
writing a results file."""
from __future__ import annotations

import json
import os
import platform
import time


def progress(msg: str) -> None:
    print(msg, flush=True)


def median_run(runs: list[dict]) -> dict:
    """The run with the median rate (a real run, so its fields agree with each other)."""
    return dict(sorted(runs, key=lambda r: r["per_second"])[len(runs) // 2])


def machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def write_results(path: str, result: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
