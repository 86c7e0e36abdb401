"""Test and CI hygiene: the launcher closes what it opens, CI starts from a
clean environment, and the packaging metadata is in the current format."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from mzsim.launcher import Proc

ROOT = Path(__file__).resolve().parents[1]


def test_proc_kill_closes_its_log_file(tmp_path):
    p = Proc(["30"], str(tmp_path / "sleep.log"), program="sleep").start()
    assert p.alive()
    p.kill()
    assert not p.alive() and p._log.closed  # no ResourceWarning when the Proc is collected
    p.stop()  # stopping a killed process is harmless


def test_ci_creates_a_fresh_venv_and_runs_the_static_checks_first():
    run = ROOT.joinpath(".ci/run").read_text()
    venv = re.search(r"^python3 -m venv (.*)$", run, re.M)
    assert venv and "--clear" in venv.group(1).split()
    checks = [run.index("\nruff check ."), run.index("\nmypy\n"), run.index("python -m pytest -q")]
    assert checks == sorted(checks)


def test_the_license_is_an_spdx_string_and_the_build_backend_accepts_it():
    meta = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())
    assert meta["project"]["license"] == "Apache-2.0"
    # setuptools reads a string license (PEP 639) from 77 on.
    req = next(r for r in meta["build-system"]["requires"] if r.startswith("setuptools"))
    assert tuple(int(x) for x in re.search(r">=\s*([\d.]+)", req).group(1).split(".")) >= (77,)
