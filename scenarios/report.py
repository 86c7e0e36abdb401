"""Scenario results: the printed summary and the JSON report."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from common.timefmt import now_text

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass
class StepResult:
    index: int
    kind: str
    title: str
    status: str = SKIPPED
    seconds: float = 0.0
    detail: str = ""
    started: float = 0.0  # seconds since the scenario started


@dataclass
class ScenarioResult:
    name: str
    file: str
    description: str = ""
    status: str = FAILED
    seconds: float = 0.0
    setup_error: str = ""  # the topology could not be brought up
    interrupted: bool = False  # SIGTERM or Ctrl-C: stopped early, counts as failed
    steps: list[StepResult] = field(default_factory=list)
    workdir: str = ""
    logs: dict[str, str] = field(default_factory=dict)
    unstopped: list[str] = field(default_factory=list)  # processes that would not stop: a failure
    seed: int | None = None
    events: list = field(default_factory=list)  # (seconds, kind, text): faults, heals, applies, steps, errors
    samples: list = field(default_factory=list)  # the Sampler's, as dicts

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.steps if r.status == s) for s in (PASSED, FAILED, SKIPPED)}

    @property
    def failure(self) -> str:
        if self.interrupted:
            return "interrupted (SIGTERM or Ctrl-C); every process started was stopped"
        if self.setup_error:
            return f"setup: {self.setup_error}"
        failed = next((r for r in self.steps if r.status == FAILED), None)
        if failed is not None:
            return f"step {failed.index} ({failed.title}): {failed.detail}"
        if self.unstopped:
            return f"processes did not stop: {', '.join(self.unstopped)}"
        return ""


def summary(results: list[ScenarioResult]) -> str:
    lines = ["", "scenario summary:"]
    width = max((len(r.name) for r in results), default=8)
    for r in results:
        c = r.counts()
        lines.append(f"  {'PASS' if r.passed else 'FAIL'}  {r.name.ljust(width)}  {r.seconds:6.1f}s  "
                     f"steps {c[PASSED]} passed, {c[FAILED]} failed, {c[SKIPPED]} skipped")
        if not r.passed:
            lines.append(f"        {r.failure.splitlines()[0] if r.failure else 'failed'}")
    ok = sum(r.passed for r in results)
    lines.append(f"{ok}/{len(results)} scenarios passed")
    return "\n".join(lines)


def write_json(path: str, results: list[ScenarioResult]) -> None:
    doc = {
        "generatedAt": now_text(),
        "passed": all(r.passed for r in results),
        "scenarios": [{**asdict(r), "passed": r.passed, "counts": r.counts(), "failure": r.failure}
                      for r in results],
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
