"""A command whose optional dependency group is not installed names the group to
install, instead of a traceback. Each case runs `mzsim` in a fresh interpreter in
which one third-party package cannot be imported."""
from __future__ import annotations

import subprocess
import sys

import pytest

RUN_WITHOUT = """
import sys
from importlib.abc import MetaPathFinder


class Absent(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == sys.argv[1]:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, Absent())
from mzsim.cli import main

sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("absent, argv, extra", [
    ("moto", ["acmpca", "serve", "--port", "1"], "services"),
    ("lightkube", ["certmanager-controller", "--kubeconfig", "absent.yaml"], "services"),
    ("hvac", ["vault", "setup", "--address", "http://127.0.0.1:1", "--token", "t"], "backends"),
    ("boto3", ["acmpca", "setup"], "backends"),
    ("lightkube", ["certmanager", "setup", "--kubeconfig", "absent.yaml"], "backends"),
])
def test_a_missing_extra_is_named(absent: str, argv: list[str], extra: str) -> None:
    done = subprocess.run([sys.executable, "-c", RUN_WITHOUT, absent, *argv], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"pip install 'mzsim[{extra}]'" in done.stderr, done.stderr
    assert f"no module named '{absent}" in done.stderr and "Traceback" not in done.stderr, done.stderr
