"""Running one scenario step against a Cluster. A step either returns a short
detail line (what it saw) or raises StepFailed saying what was expected and
what was observed."""
from __future__ import annotations

import asyncio
import time

from .cluster import Cluster, ClusterError, api_error_text
from .conditions import Outcome
from .model import Step

POLL = 0.2  # seconds between evaluations of a condition


class StepFailed(Exception):
    pass


async def run_step(step: Step, cluster: Cluster) -> str:
    try:
        return await _RUNNERS[step.kind](step, cluster)
    except ClusterError as e:
        raise StepFailed(str(e)) from None


async def _note(step: Step, cluster: Cluster) -> str:
    return step.target


async def _wait(step: Step, cluster: Cluster) -> str:
    timeout = step.options["timeout"]
    outcome, elapsed = await _poll(step, cluster, timeout)
    if not outcome.ok:
        raise StepFailed(f"'{step.condition.text}' still false after {timeout:g}s; last seen: {outcome.seen}")
    return outcome.seen


async def _expect(step: Step, cluster: Cluster) -> str:
    within, hold = step.options.get("within") or 0.0, step.options.get("for") or 0.0
    if hold:
        deadline = time.monotonic() + hold
        checks = 0
        while True:
            outcome = await step.condition.evaluate(cluster)
            checks += 1
            if not outcome.ok:
                held = hold - max(0.0, deadline - time.monotonic())
                raise StepFailed(f"'{step.condition.text}' became false after {held:.1f}s of {hold:g}s: "
                                 f"{outcome.seen}")
            if time.monotonic() >= deadline:
                return f"held for {hold:g}s ({checks} checks): {outcome.seen}"
            await asyncio.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
    outcome, elapsed = await _poll(step, cluster, within)
    if not outcome.ok:
        when = f"within {within:g}s" if within else "now"
        raise StepFailed(f"expected '{step.condition.text}' {when}; saw: {outcome.seen}")
    return outcome.seen


async def _poll(step: Step, cluster: Cluster, timeout: float) -> tuple[Outcome, float]:
    """Evaluate until true or `timeout` has passed (once when 0)."""
    start = time.monotonic()
    while True:
        outcome = await step.condition.evaluate(cluster)
        elapsed = time.monotonic() - start
        if outcome.ok or elapsed >= timeout:
            return outcome, elapsed
        await asyncio.sleep(min(POLL, timeout - elapsed))


async def _apply(step: Step, cluster: Cluster) -> str:
    res, opts = cluster.resolve(step.raw), step.options
    status, body = await cluster.apply(res)
    if status is None:
        raise StepFailed(f"global did not answer: {body}")
    accepted = status in (200, 201)
    if opts["outcome"] == "accepted":
        if not accepted:
            raise StepFailed(f"expected global to accept {res.kind} {res.name}; it answered HTTP {status}: "
                             f"{api_error_text(body)}")
        warnings = (body.get("warnings") or []) if isinstance(body, dict) else []
        if opts["warning"] and not any(opts["warning"] in w for w in warnings):
            raise StepFailed(f"expected a warning containing {opts['warning']!r}; warnings: {warnings or 'none'}")
        return f"HTTP {status}" + (f", warnings: {'; '.join(warnings)}" if warnings else "")
    if accepted:
        raise StepFailed(f"expected global to reject {res.kind} {res.name}; it accepted it (HTTP {status})")
    causes = (body.get("causes") or []) if isinstance(body, dict) else []
    want_field, want_msg = opts["field"], opts["message"]
    match = [c for c in causes if (not want_field or c.get("field") == want_field)
             and (not want_msg or want_msg in (c.get("message") or ""))]
    if (want_field or want_msg) and not match:
        if not causes and want_msg and not want_field and want_msg in api_error_text(body):
            return f"rejected (HTTP {status}): {api_error_text(body)}"
        raise StepFailed(f"rejected as expected (HTTP {status}), but no cause matches field={want_field!r} "
                         f"message~{want_msg!r}; global said: {api_error_text(body)}")
    return f"rejected (HTTP {status}): {api_error_text(body)}"


async def _delete(step: Step, cluster: Cluster) -> str:
    kind, name = step.target
    status, body = await cluster.delete(kind, name)
    if status != 200:
        raise StepFailed(f"global did not delete {kind} {name}: HTTP {status}: {api_error_text(body)}")
    return "deleted"


async def _register(step: Step, cluster: Cluster) -> str:
    t = step.target
    status, body = await cluster.register(t["zone"], t["mesh"], t["name"], t["service"], t["tags"])
    if status not in (200, 201):
        raise StepFailed(f"{t['zone']} did not register {t['mesh']}/{t['name']}: HTTP {status}: {api_error_text(body)}")
    return f"HTTP {status}"


def _process(action: str):
    async def run(step: Step, cluster: Cluster) -> str:
        await getattr(cluster, action)(step.target)
        return {"kill": "SIGKILL sent, process gone", "stop": "stopped (SIGTERM)",
                "start": "listening", "restart": "stopped and listening again",
                "pause": "SIGSTOP: the process is frozen, its connections stay open",
                "resume": "SIGCONT: the process runs again"}[action]
    return run


def _peer(name: str, cluster: Cluster) -> str:
    return f"backend {name}" if name in cluster.backends else "global"


async def _partition(step: Step, cluster: Cluster) -> str:
    proxy = cluster.link(step.target)
    proxy.partition(step.options["mode"])
    cluster.event("fault", f"partition {step.target} ({step.options['mode']})")
    peer = _peer(step.target, cluster)
    return (f"link to {peer} silently dropping" if step.options["mode"] == "drop"
            else f"link to {peer} resetting connections")


async def _delay(step: Step, cluster: Cluster) -> str:
    cluster.link(step.target).delay(step.options["latency"], step.options.get("jitter") or 0.0, cluster.rng)
    cluster.event("fault", f"delay {step.target} {step.options['latency']:g}s")
    return f"every chunk to and from {_peer(step.target, cluster)} held {step.options['latency']:g}s"


async def _backend(step: Step, cluster: Cluster) -> str:
    return await cluster.backend_action(step.kind, step.target, step.options)


async def _heal(step: Step, cluster: Cluster) -> str:
    proxy = cluster.link(step.target)
    cluster.healed(f"heal {step.target}")
    if proxy.cut:
        was = f"partition lifted after {time.monotonic() - proxy.since:.1f}s"
    else:
        was = "delay removed" if proxy.latency else "no fault was active"
    proxy.heal()
    return f"link restored: {was}"


class Watch:
    """A condition checked in the background from its `watch` step to its `unwatch` (or the end)."""

    def __init__(self, step: Step, cluster: Cluster):
        self.step, self.cluster = step, cluster
        self.checks, self.failed, self.last = 0, "", ""
        self.started = time.monotonic()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            outcome = await self.step.condition.evaluate(self.cluster)
            self.checks += 1
            self.last = outcome.seen
            if not outcome.ok:
                self.failed = (f"watched '{self.step.condition.text}' (since step {self.step.index}) became false "
                               f"after {time.monotonic() - self.started:.1f}s: {outcome.seen}")
                self.cluster.event("error", f"watch failed: {self.step.condition.text}")
                return
            await asyncio.sleep(POLL)

    async def stop(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


async def _watch(step: Step, cluster: Cluster) -> str:
    text = step.condition.text
    if text in cluster.watches:
        raise StepFailed(f"'{text}' is already watched")
    outcome = await step.condition.evaluate(cluster)
    if not outcome.ok:
        raise StepFailed(f"cannot watch '{text}': it is false now: {outcome.seen}")
    cluster.watches[text] = Watch(step, cluster)
    return f"watching from now on: {outcome.seen}"


async def _unwatch(step: Step, cluster: Cluster) -> str:
    w = cluster.watches.pop(step.condition.text, None)
    if w is None:
        raise StepFailed(f"'{step.condition.text}' is not watched; add a watch step before")
    await w.stop()
    if w.failed:
        raise StepFailed(w.failed)
    return f"held for {time.monotonic() - w.started:.1f}s ({w.checks} checks): {w.last}"


def watch_failure(cluster: Cluster) -> str:
    """The first watch that failed, if any."""
    return next((w.failed for w in cluster.watches.values() if w.failed), "")


async def stop_watches(cluster: Cluster) -> None:
    for w in cluster.watches.values():
        await w.stop()
    if cluster.burst is not None and not cluster.burst.done():
        cluster.burst.cancel()
        try:
            await cluster.burst
        except asyncio.CancelledError:
            pass


async def _burst(step: Step, cluster: Cluster) -> str:
    """Apply meshes in the background; the ones global acknowledged (2xx) are recorded."""
    if cluster.burst is not None and not cluster.burst.done():
        raise StepFailed("a burst is still running; wait for 'burst done' first")
    names = [f"{step.options['prefix']}-{i + 1}" for i in range(step.target)]
    cluster.acked.clear()
    cluster.unacked.clear()
    todo = list(names)

    async def worker() -> None:
        while todo:
            name = todo.pop(0)
            status, _ = await cluster.apply_quiet({"type": "Mesh", "name": name})
            (cluster.acked if status in (200, 201) else cluster.unacked).append(name)

    async def run() -> None:
        await asyncio.gather(*(worker() for _ in range(step.options["concurrency"])))
        cluster.event("apply", f"burst done: {len(cluster.acked)} acknowledged, {len(cluster.unacked)} not")

    cluster.burst = asyncio.create_task(run())
    cluster.event("apply", f"burst of {step.target} started")
    return f"applying {step.target} meshes, {step.options['concurrency']} at a time"


async def _advance(step: Step, cluster: Cluster) -> str:
    await asyncio.sleep(step.target)  # deliberately letting time pass (e.g. certificate lifetimes)
    return f"{step.target:g}s passed"


_RUNNERS = {
    "note": _note, "wait": _wait, "expect": _expect, "apply": _apply, "delete": _delete, "register": _register,
    "kill": _process("kill"), "stop": _process("stop"), "start": _process("start"),
    "restart": _process("restart"), "partition": _partition, "delay": _delay, "heal": _heal,
    "advance": _advance, "pause": _process("pause"), "resume": _process("resume"),
    "vault": _backend, "acmpca": _backend, "certmanager": _backend, "watch": _watch, "unwatch": _unwatch,
    "burst": _burst,
}
