"""Fixtures for the scenario runner tests: the real `mzsim scenario` command
in a subprocess, and scenario files written to a temporary directory."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def mzsim_scenario():
    """Run `python -m mzsim scenario ARGS...` from the repository; a CompletedProcess."""
    def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mzsim", "scenario", *args], cwd=REPO,
                              capture_output=True, text=True, timeout=timeout)
    return run


@pytest.fixture
def scenario_file(tmp_path):
    """Write a scenario (YAML text, dedented) and return its path."""
    def write(name: str, text: str) -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return str(path)
    return write


def processes_mentioning(text: str) -> list[str]:
    """Pids whose command line contains `text` (to prove nothing was left running)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        found.append(pid)
            except OSError:
                pass
    return found
