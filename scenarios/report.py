"""Scenario results: the printed summary and the JSON report."""
from __future__ import annotations

import html
import json
import statistics
import xml.etree.ElementTree as ET
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


def write_json(path: str, results: list[ScenarioResult], repeats: list[dict] | None = None) -> None:
    doc = {
        "generatedAt": now_text(),
        "passed": all(r.passed for r in results),
        **({"repeats": repeats} if repeats else {}),
        "scenarios": [{**asdict(r), "passed": r.passed, "counts": r.counts(), "failure": r.failure}
                      for r in results],
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


# -- --repeat: pass rate and the spread of step times -------------------------------
def repeat_summary(results: list[ScenarioResult]) -> list[dict]:
    """Per scenario (in first-run order): runs, passes, and min/median/max seconds of each step."""
    by_name: dict[str, list[ScenarioResult]] = {}
    for r in results:
        by_name.setdefault(r.name, []).append(r)
    out = []
    for name, runs in by_name.items():
        steps = []
        for i, first in enumerate(runs[0].steps):
            times = sorted(r.steps[i].seconds for r in runs if i < len(r.steps) and r.steps[i].status == PASSED)
            steps.append({"index": first.index, "title": first.title, "passedRuns": len(times),
                          "min": times[0] if times else None, "median": statistics.median(times) if times else None,
                          "max": times[-1] if times else None})
        out.append({"name": name, "runs": len(runs), "passed": sum(r.passed for r in runs),
                    "passRate": round(sum(r.passed for r in runs) / len(runs), 3),
                    "seconds": [r.seconds for r in runs], "seeds": [r.seed for r in runs], "steps": steps})
    return out


def repeat_text(rows: list[dict]) -> str:
    lines = ["", "repeat summary (pass rate; step times min / median / max over passing runs):"]
    for row in rows:
        lines.append(f"  {row['name']}: {row['passed']}/{row['runs']} passed ({row['passRate']:.0%}), "
                     f"run times {', '.join(f'{s:.1f}s' for s in row['seconds'])}")
        for s in row["steps"]:
            if s["min"] is not None and s["max"] - s["min"] >= 0.5:  # only the steps whose time varies
                lines.append(f"      step {s['index']:>2} {s['title'][:60]:60} {s['min']:.1f} / "
                             f"{s['median']:.1f} / {s['max']:.1f}s")
    return "\n".join(lines)


# -- --junit ------------------------------------------------------------------------
def write_junit(path: str, results: list[ScenarioResult]) -> None:
    """One testsuite per scenario run, one testcase per step (the form Jenkins, GitLab and GitHub read)."""
    root = ET.Element("testsuites", name="mzsim scenarios", tests=str(sum(len(r.steps) for r in results)),
                      failures=str(sum(r.counts()[FAILED] for r in results)),
                      time=f"{sum(r.seconds for r in results):.2f}")
    seen: dict[str, int] = {}
    for r in results:
        seen[r.name] = seen.get(r.name, 0) + 1
        suite_name = r.name if seen[r.name] == 1 else f"{r.name} (run {seen[r.name]})"
        c = r.counts()
        suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(r.steps)),
                              failures=str(c[FAILED] + bool(r.setup_error or r.unstopped or r.interrupted)),
                              skipped=str(c[SKIPPED]), time=f"{r.seconds:.2f}", file=r.file)
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="seed", value=str(r.seed))
        if r.setup_error or r.unstopped or r.interrupted:
            case = ET.SubElement(suite, "testcase", classname=f"scenario.{r.name}", name="00 setup and cleanup",
                                 time="0")
            ET.SubElement(case, "failure", message=r.failure.splitlines()[0][:500]).text = r.failure
        for s in r.steps:
            case = ET.SubElement(suite, "testcase", classname=f"scenario.{r.name}",
                                 name=f"{s.index:02d} {s.title}", time=f"{s.seconds:.2f}")
            if s.status == FAILED:
                ET.SubElement(case, "failure", message=s.detail.splitlines()[0][:500] if s.detail else "failed"
                              ).text = s.detail
            elif s.status == SKIPPED:
                ET.SubElement(case, "skipped", message="an earlier step failed")
            elif s.detail:
                ET.SubElement(case, "system-out").text = s.detail
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


# -- --html -------------------------------------------------------------------------
COLORS = {"ack": "#66a80f", "fault": "#d9480f", "heal": "#2b8a3e",
          "apply": "#1971c2", "error": "#c92a2a", "backend": "#495057",
          "closed": "#b2f2bb", "open": "#ffa8a8", "half-open": "#ffd8a8",
          PASSED: "#8ce99a", FAILED: "#ff8787", SKIPPED: "#dee2e6"}
MESH_COLORS = ["#1c7ed6", "#ae3ec9", "#f08c00", "#0ca678", "#e64980", "#5c940d"]


def write_html(path: str, results: list[ScenarioResult]) -> None:
    """One self-contained page: per scenario run, an SVG timeline and the step table."""
    body = "\n".join(_html_scenario(r) for r in results)
    ok = sum(r.passed for r in results)
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mzsim scenarios</title><style>"
            "body{font:14px system-ui,sans-serif;margin:1.5em;color:#212529}table{border-collapse:collapse;"
            "margin:.5em 0 2em}td,th{border:1px solid #dee2e6;padding:3px 6px;text-align:left;vertical-align:top}"
            ".passed{background:#ebfbee}.failed{background:#fff5f5}.skipped{color:#868e96}"
            "svg text{font:11px system-ui,sans-serif}code{white-space:pre-wrap}</style></head><body>"
            f"<h1>mzsim scenarios: {ok}/{len(results)} passed</h1><p>generated {html.escape(now_text())}</p>"
            f"{body}</body></html>")
    with open(path, "w") as f:
        f.write(page)


def _html_scenario(r: ScenarioResult) -> str:
    e = html.escape
    rows = "".join(f"<tr class='{s.status}'><td>{s.index}</td><td>{e(s.title)}</td><td>{s.status}</td>"
                   f"<td>{s.started:.1f}s</td><td>{s.seconds:.1f}s</td><td><code>{e(s.detail)}</code></td></tr>"
                   for s in r.steps)
    failure = f"<p><b>failure:</b> <code>{e(r.failure)}</code></p>" if r.failure else ""
    return (f"<h2>{'PASS' if r.passed else 'FAIL'} {e(r.name)} ({r.seconds:.1f}s, seed {r.seed})</h2>"
            f"<p>{e(' '.join(r.description.split()))}</p>{failure}{_svg(r)}"
            "<table><tr><th>#</th><th>step</th><th>status</th><th>at</th><th>took</th><th>what was seen</th></tr>"
            f"{rows}</table>")


def _svg(r: ScenarioResult) -> str:
    """Lanes, top to bottom: steps; faults, heals, applies and errors; certified dataplanes per mesh;
    breaker state per zone and backend."""
    e = html.escape
    end = max([r.seconds, 1.0] + [ev[0] for ev in r.events] + [s["t"] for s in r.samples])
    left, width = 170, 900
    x = lambda t: left + width * t / end  # noqa: E731
    parts, y = [], 20
    for t in range(0, int(end) + 1, max(1, int(end) // 12 or 1)):
        parts.append(f"<line x1='{x(t):.1f}' y1='10' x2='{x(t):.1f}' y2='{{H}}' stroke='#f1f3f5'/>"
                     f"<text x='{x(t):.1f}' y='10' text-anchor='middle'>{t}s</text>")
    parts.append(f"<text x='4' y='{y + 12}'>steps</text>")
    for s in r.steps:
        if s.status == SKIPPED:
            continue
        w = max(2.0, x(s.started + s.seconds) - x(s.started))
        parts.append(f"<rect x='{x(s.started):.1f}' y='{y}' width='{w:.1f}' height='16' fill='{COLORS[s.status]}' "
                     f"stroke='#fff'><title>{s.index} {e(s.title)} ({s.seconds:.1f}s): {e(s.detail[:300])}"
                     f"</title></rect>")
    y += 26
    for lane, label in (("fault", "faults"), ("heal", "heals"), ("apply", "applies"), ("ack", "ACKs"),
                        ("error", "errors")):
        evs = [ev for ev in r.events if ev[1] == lane or (lane == "fault" and ev[1] == "backend")]
        parts.append(f"<text x='4' y='{y + 12}'>{label}</text>")
        for t, kind, text in evs:
            parts.append(f"<g><title>{t:.1f}s {e(text)}</title><rect x='{x(t) - 2:.1f}' y='{y}' width='4' "
                         f"height='16' fill='{COLORS[kind]}'/></g>")
            if lane in ("fault", "heal"):
                parts.append(f"<text x='{x(t) + 4:.1f}' y='{y + 12}' fill='{COLORS[kind]}'>{e(text[:28])}</text>")
        y += 22
    meshes = sorted({m for s in r.samples for m in s["dataplanes"]})
    for mesh in meshes:  # one line per backend: a rotation shows as one line falling as the next rises
        top = max(s["dataplanes"].get(mesh, 0) for s in r.samples) or 1
        keys = sorted({k for s in r.samples for k in s.get("issued_by", {}) if k.startswith(mesh + "/")})
        parts.append(f"<text x='4' y='{y + 14}'>certified in {e(mesh)} (of {top})</text>"
                     f"<line x1='{left}' y1='{y + 40}' x2='{left + width}' y2='{y + 40}' stroke='#dee2e6'/>")
        for i, key in enumerate(keys):
            color = MESH_COLORS[i % len(MESH_COLORS)]
            pts = " ".join(f"{x(s['t']):.1f},{y + 40 - 36 * s.get('issued_by', {}).get(key, 0) / top:.1f}"
                           for s in r.samples)
            parts.append(f"<polyline points='{pts}' fill='none' stroke='{color}' stroke-width='2'>"
                         f"<title>{e(key)}</title></polyline>"
                         f"<text x='4' y='{y + 28 + 11 * i}' fill='{color}'>from {e(key.split('/', 1)[1])}</text>")
        y += max(50, 30 + 11 * len(keys))
    breakers = sorted({k for s in r.samples for k in s["breakers"]})
    for key in breakers:
        parts.append(f"<text x='4' y='{y + 11}'>breaker {e(key[-24:])}</text>")
        for a, b in zip(r.samples, r.samples[1:] + [None], strict=False):
            state = a["breakers"].get(key)
            if state is None:
                continue
            t2 = b["t"] if b is not None else end
            parts.append(f"<rect x='{x(a['t']):.1f}' y='{y}' width='{max(1.0, x(t2) - x(a['t'])):.1f}' height='14' "
                         f"fill='{COLORS.get(state, '#ced4da')}'><title>{a['t']:.1f}s {state}</title></rect>")
        y += 20
    height = y + 10
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{left + width + 20}' height='{height}' "
            f"role='img' aria-label='timeline of {e(r.name)}'>" + "".join(parts).replace("{H}", str(height))
            + "</svg>")
