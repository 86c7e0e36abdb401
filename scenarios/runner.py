"""The scenario runner: validates every file first, then for each scenario
brings up its topology, runs its steps in order (stopping at the first
failure), and always stops every process it started. `mzsim scenario run`."""
from __future__ import annotations

import asyncio
import glob
import os
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict

from . import model
from .cluster import Cluster
from .report import (
    FAILED,
    PASSED,
    ScenarioResult,
    StepResult,
    repeat_summary,
    repeat_text,
    summary,
    write_html,
    write_json,
    write_junit,
)
from .steps import StepFailed, run_step, stop_watches, watch_failure

FILES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files")

Out = Callable[[str], None]


def shipped() -> list[str]:
    """Paths of the scenarios that ship with mzsim."""
    return sorted(glob.glob(os.path.join(FILES_DIR, "*.yaml")))


def resolve(arg: str) -> str:
    """A path, or the name of a shipped scenario (`zone-partition`)."""
    if os.path.exists(arg):
        return arg
    candidate = os.path.join(FILES_DIR, arg if arg.endswith(".yaml") else arg + ".yaml")
    return candidate if os.path.exists(candidate) else arg  # load() reports the missing file


def load_all(args: list[str]) -> tuple[list[model.Scenario], list[str]]:
    """Every file parsed and validated; (scenarios, error texts)."""
    scenarios, errors = [], []
    for arg in args:
        try:
            scenarios.append(model.load(resolve(arg)))
        except model.ScenarioError as e:
            errors.append(str(e))
    return scenarios, errors


def run(args: list[str], report: str | None = None, keep: bool = False, out: Out = print, *,
        seed: int | None = None, repeat: int = 1, junit: str | None = None, html: str | None = None) -> int:
    """0 if every scenario passed, 1 if one failed, 2 if a file is invalid (nothing started then)."""
    scenarios, errors = load_all(args)
    if errors:
        for e in errors:
            out(f"invalid scenario: {e}")
        out("nothing was started; fix the files above")
        return 2
    results = asyncio.run(_run_all(scenarios, keep, out, seed, max(1, repeat)))
    out(summary(results))
    repeats = repeat_summary(results) if repeat > 1 else None
    if repeats:
        out(repeat_text(repeats))
    for path, write, what in ((report, lambda p: write_json(p, results, repeats), "report"),
                              (junit, lambda p: write_junit(p, results), "JUnit report"),
                              (html, lambda p: write_html(p, results), "HTML report")):
        if path:
            write(path)
            out(f"{what} written to {path}")
    return 0 if results and all(r.passed for r in results) else 1


async def _run_all(scenarios: list[model.Scenario], keep: bool, out: Out, seed: int | None,
                   repeat: int) -> list[ScenarioResult]:
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, main.cancel)  # same cleanup path as Ctrl-C
    results: list[ScenarioResult] = []
    try:
        for sc in scenarios:
            for k in range(repeat):
                if repeat > 1:
                    out(f"\n-- run {k + 1} of {repeat}")
                # the run's seed: the one given (every run alike), else a fresh one, recorded to replay it
                run_seed = seed if seed is not None else random.SystemRandom().randrange(2 ** 31)
                results.append(await run_scenario(sc, keep, out, run_seed))
                if results[-1].interrupted:
                    return results
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
    return results


async def run_scenario(sc: model.Scenario, keep: bool, out: Out, seed: int = 0) -> ScenarioResult:
    result = ScenarioResult(sc.name, sc.path, sc.description, seed=seed)
    result.steps = [StepResult(s.index, s.kind, s.title) for s in sc.steps]
    result.workdir = tempfile.mkdtemp(prefix=f"mzsim-scenario-{sc.name}-")
    cluster = Cluster(sc, result.workdir, seed)
    started = time.monotonic()
    out(f"\n== scenario {sc.name} ({sc.path}), seed {seed}")
    if sc.description:
        out("   " + " ".join(sc.description.split()))
    try:
        try:
            await cluster.up(lambda msg: out(f"[setup] {msg}"))
        except Exception as e:  # noqa: BLE001 - any setup failure fails this scenario, with its reason
            result.setup_error = str(e)
            out(f"[setup] FAILED: {e}")
        else:
            cluster.sampler.start()
            await _run_steps(sc, cluster, result, out)
    except asyncio.CancelledError:  # SIGTERM or Ctrl-C: clean up below, then stop
        asyncio.current_task().uncancel()
        result.interrupted = True
        out("interrupted: stopping every process this scenario started ...")
    finally:
        await stop_watches(cluster)
        await cluster.sampler.stop()
        result.events = cluster.events
        result.samples = [asdict(x) for x in cluster.sampler.samples]
        result.logs = cluster.log_paths()
        result.unstopped = await cluster.down()
        result.seconds = round(time.monotonic() - started, 2)
    failed = (result.setup_error or result.interrupted or result.unstopped
              or any(s.status == FAILED for s in result.steps))
    result.status = FAILED if failed or any(s.status != PASSED for s in result.steps) else PASSED
    if result.status == FAILED and not result.interrupted:
        for name, path in result.logs.items():
            out(f"--- last lines of {name} ({path}):\n{cluster.log_tail(name)}")
    if keep:
        out(f"kept {result.workdir} (stores and logs)")
    else:
        shutil.rmtree(result.workdir, ignore_errors=True)
        result.logs = {}
    return result


async def _run_steps(sc: model.Scenario, cluster: Cluster, result: ScenarioResult, out: Out) -> None:
    total = len(sc.steps)
    for step, res in zip(sc.steps, result.steps, strict=False):
        prefix = f"[{step.index:>2}/{total}]"
        out(f"{prefix} {step.title}" if step.kind != "note" else f"{prefix} note: {step.target}")
        t0 = time.monotonic()
        cluster.event("step", f"{step.index} {step.title}")
        try:
            res.detail = await _guarded(step, cluster, out, prefix, t0)
            died = cluster.unexpected_exits()
            if died:
                raise StepFailed("a process died: " + "; ".join(died))
            if watch_failure(cluster):
                raise StepFailed(watch_failure(cluster))
            res.status = PASSED
        except StepFailed as e:
            res.status, res.detail = FAILED, str(e)
        res.seconds = round(time.monotonic() - t0, 2)
        res.started = round(t0 - cluster.t0, 2)
        if res.status == FAILED:
            cluster.event("error", f"step {step.index} failed")
            out(f"{' ' * len(prefix)} FAILED after {res.seconds:.1f}s: {res.detail}")
            return
        if step.kind != "note":
            out(f"{' ' * len(prefix)} ok {res.seconds:.1f}s: {res.detail}")



PROGRESS_EVERY = 5.0  # seconds between progress lines of a long step


async def _guarded(step: model.Step, cluster: Cluster, out: Out, prefix: str, t0: float) -> str:
    """The step, failed early if a watched condition becomes false; a progress line now and then."""
    task = asyncio.create_task(run_step(step, cluster))
    next_note = t0 + PROGRESS_EVERY
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.2)
            if done:
                return task.result()
            failed = watch_failure(cluster)
            if failed:
                raise StepFailed(failed)
            if time.monotonic() >= next_note:
                next_note += PROGRESS_EVERY
                out(f"{' ' * len(prefix)} ... {time.monotonic() - t0:.0f}s in step {step.index}, "
                    f"{time.monotonic() - cluster.t0:.0f}s in all; {cluster.sampler.line()}")
    finally:
        if not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, StepFailed):
                pass
