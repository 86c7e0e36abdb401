"""`mzsim zone --count N --procs P`: the N zones spread over P child processes
(one event loop each, so both cores of a small machine work), supervised by
this parent:

- child k of P runs `mzsim zone ... --shard k/P`: a contiguous slice of the N
  zones, with the same names, ports and data directories as one process would
  give them;
- the parent prints its ready line once every child has printed its own;
- SIGTERM or SIGINT to the parent stops every child (SIGTERM, then SIGKILL
  after `STOP_GRACE` seconds), waits for them, and exits 0;
- a child that exits on its own is reported (which zones, exit code or
  signal); the parent then stops the others and exits 1: a partial set of
  zones would look healthy while some are gone;
- each child asks the kernel for SIGTERM when the parent dies (Linux
  PR_SET_PDEATHSIG), so even a kill -9 of the parent leaves no orphans.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Sequence

log = logging.getLogger("mzsim.zone")

STOP_GRACE = 15.0  # seconds a child gets to stop cleanly before SIGKILL
READY_PREFIX = "mzsim zone ready:"
PARENT_ENV = "MZSIM_ZONE_PARENT_PID"
PR_SET_PDEATHSIG = 1


def shard_range(count: int, shard: tuple[int, int]) -> range:
    """The zone indexes (0-based) child k of P runs: contiguous, sizes differing by at most one."""
    k, procs = shard
    return range(k * count // procs, (k + 1) * count // procs)


def parse_shard(text: str) -> tuple[int, int]:
    try:
        k, procs = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must be K/P (e.g. 0/2), not {text!r}") from None
    if not 0 <= k < procs:
        raise ValueError(f"--shard {text}: K must be from 0 to P-1")
    return k, procs


def die_with_parent() -> None:
    """In a child: be sent SIGTERM when the parent goes, and go now if it already has."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        sys.exit(f"mzsim zone: parent process {parent} is gone; exiting")


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Child:
    def __init__(self, k: int, procs: int, names: str, argv: Sequence[str]):
        self.k, self.procs, self.names, self.argv = k, procs, names, list(argv)
        self.proc: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()

    @property
    def label(self) -> str:
        return f"zone process {self.k + 1}/{self.procs} (pid {self.proc.pid if self.proc else '-'}, {self.names})"

    async def start(self) -> None:
        env = {**os.environ, PARENT_ENV: str(os.getpid())}
        # stdout is read for the ready line and passed on; logs go straight to our stderr.
        self.proc = await asyncio.create_subprocess_exec(*self.argv, stdin=asyncio.subprocess.DEVNULL,
                                                         stdout=asyncio.subprocess.PIPE, env=env)

    async def pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            text = line.decode(errors="replace").rstrip("\n")
            if text.startswith(READY_PREFIX):  # not passed on as is: the parent's own line means all are ready
                self.ready.set()
                text = "zone process ready:" + text[len(READY_PREFIX):]
            print(f"[{self.k + 1}/{self.procs}] {text}", flush=True)

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), STOP_GRACE)
        except TimeoutError:
            log.error("%s did not stop within %gs; killing it", self.label, STOP_GRACE)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


async def supervise(children: list[Child], ready_message: str) -> int:
    """Run the children until a stop signal (0) or until one exits on its own (1)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pumps: list[asyncio.Task[None]] = []
    try:
        for c in children:
            await c.start()
            pumps.append(asyncio.create_task(c.pump()))
        waits = {asyncio.create_task(c.proc.wait()): c for c in children if c.proc is not None}
        stopping = asyncio.create_task(stop.wait())
        all_ready = asyncio.ensure_future(asyncio.gather(*(c.ready.wait() for c in children)))
        pending: set[asyncio.Future] = {stopping, all_ready, *waits}
        code = 0
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if all_ready in done:
                print(ready_message, flush=True)
            if stopping in done:
                log.info("shutting down %d zone processes", len(children))
                break
            dead = [waits[t] for t in done if t in waits]
            if dead:
                for c in dead:
                    assert c.proc is not None and c.proc.returncode is not None
                    log.error("%s %s; stopping the other zone processes", c.label,
                              _describe_exit(c.proc.returncode))
                code = 1
                break
        for t in pending:
            t.cancel()
        await asyncio.gather(*(c.stop() for c in children))
        return code
    finally:
        await asyncio.gather(*(c.stop() for c in children), return_exceptions=True)
        for t in pumps:
            t.cancel()
