"""The README's "by hand" block, pasted into bash as written, and what the
commands in it do when global is not up yet, a port is taken or a token is missing."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mzsim.launcher import Global, Proc, http
from mzsim.waiting import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
README_PORTS = (5681, 5685, 5682, 5692)


def readme_by_hand() -> tuple[str, str]:
    """The sh block of README's "Running global and two zones by hand", and its stop command."""
    section = ROOT.joinpath("README.md").read_text().split("## Running global and two zones by hand", 1)[1]
    section = section.split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    stop = re.search(r"Stop the three background processes with `([^`]+)`", section)
    assert block and stop, "README's by-hand section lost its sh block or its stop command"
    return block.group(1), stop.group(1)


def _own_network() -> list[str] | None:
    """A prefix that runs a command in a new network namespace with only a
    loopback, so README's fixed ports cannot clash with anything else here."""
    try:
        ok = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"], capture_output=True,
                            timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return ["unshare", "-rn"] if ok else None


def _ports_free(ports) -> bool:
    for p in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


WAIT_FOR_SYNC = textwrap.dedent("""\
    python - <<'PY'
    import json, urllib.request
    from mzsim.waiting import wait_until
    def get(url):
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.loads(r.read())
    def synced():
        zones = get("http://127.0.0.1:5681/status/zones")
        ok = [z for z in zones if z["active"] and z["inSync"] and z["nackCount"] == 0]
        meshes = [m["name"] for port in (5682, 5692) for m in get(f"http://127.0.0.1:{port}/meshes")["items"]]
        return len(ok) == 2 and meshes == ["default", "default"] and zones
    print("SYNCED", json.dumps(wait_until(synced, 60, interval=0.2, what="two zones in sync")))
    PY
    """)


@pytest.mark.multiprocess
def test_the_readme_by_hand_block_pasted_into_bash_brings_two_zones_in_sync(tmp_path):
    block, stop = readme_by_hand()
    prefix = _own_network()
    if prefix is None and not _ports_free(README_PORTS):
        pytest.skip("no network namespace (unshare -rn) and README's ports are taken here")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    script = "\n".join([
        "ip link set lo up" if prefix else "",
        block,
        WAIT_FOR_SYNC,
        "rc=$?",
        stop,
        "wait",  # for every background job to end
        "exit $rc",
    ])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MZSIM_")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    shell = subprocess.Popen([*(prefix or []), "bash", "-s"], cwd=tmp_path, env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = shell.communicate(script, timeout=120)
    finally:
        try:
            os.killpg(shell.pid, signal.SIGKILL)  # only if something outlived the README's stop command
            leftover = True
        except ProcessLookupError:
            leftover = False
        shell.wait(timeout=10)
    assert shell.returncode == 0, out
    assert "SYNCED" in out, out
    assert "Mesh default created" in out  # mzsim apply
    assert '"warnings": []' in out and "curl:" not in out  # the curl PUT, as written, got global's answer
    assert "Traceback" not in out, out
    assert not leftover, "processes outlived the README's stop command"
    assert (tmp_path / "zone-1.token").read_text().strip().count(".") == 2  # a JWT


def run_while_global_starts(cluster, g: Global, argv: list[str], command: str) -> tuple[int, str, str]:
    """Start `mzsim ARGV` before global, see it say it waits, start global; (returncode, stdout, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "mzsim", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_until(lambda: proc.stderr.readline().startswith(f"{command}: waiting for global"), 10,
                   what="a progress line")
        cluster.add(g)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, out, err


def test_token_zone_waits_for_global_to_come_up(cluster):
    g = Global(cluster.dir)
    code, out, err = run_while_global_starts(cluster, g, ["token", "zone", "--zone", "zone-1", "--global-api", g.api,
                                                          "--wait-global", "30s"], "mzsim token zone")
    assert code == 0, err
    assert out.strip().count(".") == 2


def test_token_zone_gives_up_after_the_configured_wait_with_one_line():
    port = free_port()
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "mzsim", "token", "zone", "--zone", "z"],
                       env={**os.environ, "MZSIM_GLOBAL_API": f"http://127.0.0.1:{port}", "MZSIM_WAIT_GLOBAL": "1s"},
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and r.stdout == ""
    assert 1.0 <= time.monotonic() - start < 10
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"mzsim token zone: cannot reach global at http://127.0.0.1:{port}: "), r.stderr
    assert "--wait-global" in last and "Traceback" not in r.stderr


@pytest.mark.parametrize("content", [None, "", "\n"], ids=["missing", "empty", "blank"])
def test_a_zone_without_a_token_in_its_token_file_says_so_and_exits(tmp_path, content):
    path = tmp_path / "zone-1.token"
    if content is not None:
        path.write_text(content)
    r = subprocess.run([sys.executable, "-m", "mzsim", "zone", "--name", "zone-1", "--global-address",
                        f"ws://127.0.0.1:{free_port()}", "--token-file", str(path), "--api-port", str(free_port()),
                        "--data-dir", str(tmp_path / "zones")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and str(path) in r.stderr, r.stderr
    assert ("is empty" if content is not None else "No such file") in r.stderr
    assert "mzsim token zone --zone zone-1" in r.stderr


def _taken_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


@pytest.mark.parametrize("which", ["global --api-port", "global --kds-port", "zone --api-port"])
def test_a_port_in_use_is_one_line_naming_the_flag(tmp_path, which):
    sock, port = _taken_port()
    command, flag = which.split()
    args = {"global": ["global", "--api-port", str(free_port()), "--kds-port", str(free_port())],
            "zone": ["zone", "--name", "zone-1", "--api-port", str(free_port())]}[command]
    args[args.index(flag) + 1] = str(port)
    with sock:
        p = Proc([*args, "--data-dir", str(tmp_path / "data")], str(tmp_path / "out.log")).start()
        try:
            p.popen.wait(timeout=30)
        finally:
            p.stop()
    out = p.log()
    assert p.returncode() == 2
    assert out.strip().splitlines() == [
        f"mzsim {command}: port {port} on 127.0.0.1 is already in use; choose another with {flag} "
        f"(MZSIM_{flag[2:].upper().replace('-', '_')})"], out


def test_apply_waits_for_global_and_applies_the_example_mesh(cluster):
    g = Global(cluster.dir)
    code, out, err = run_while_global_starts(
        cluster, g, ["apply", "-f", str(ROOT / "examples/mesh-default.json"), "--global-api", g.api], "mzsim apply")
    assert code == 0, err
    assert out.strip() == "Mesh default created"
    status, mesh = http("GET", g.api + "/meshes/default")
    assert status == 200 and mesh["mtls"]["backends"][0]["type"] == "builtin"
