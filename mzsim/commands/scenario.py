"""`mzsim scenario run|list|validate`: failure scenarios against real processes."""
from __future__ import annotations

import os


def register(sub) -> None:
    p = sub.add_parser("scenario", help="run failure scenarios (YAML) against real global and zone processes",
                       description="A scenario starts a topology (global + zones, each zone behind a fault "
                       "proxy), applies resources and runs steps: faults (kill, partition, ...) and checks "
                       "(wait, expect). See docs/scenarios.md.")
    ssub = p.add_subparsers(dest="scenario_cmd", metavar="ACTION")
    r = ssub.add_parser("run", help="run scenario files (or names of shipped scenarios); exit 0 if all pass")
    r.add_argument("files", nargs="+", metavar="FILE", help="scenario file, or a shipped name such as zone-partition")
    r.add_argument("--report", metavar="FILE", help="write a JSON report (steps, durations, failures) here")
    r.add_argument("--keep", action="store_true", help="keep each scenario's working directory (stores, logs)")
    r.add_argument("--seed", type=int, metavar="N",
                   help="seed every jitter the runner adds (delay jitter); recorded in the reports. "
                        "Default: a fresh seed per run, printed and recorded so the run can be replayed")
    r.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run each scenario N times; prints the pass rate and the spread of step times")
    r.add_argument("--junit", metavar="FILE", help="write JUnit XML here: one testcase per step")
    r.add_argument("--html", metavar="FILE",
                   help="write one self-contained HTML page here: an SVG timeline and the step table per run")
    r.set_defaults(func=run_cmd)
    v = ssub.add_parser("validate", help="check scenario files without starting anything")
    v.add_argument("files", nargs="+", metavar="FILE",
                   help="scenario file, or a shipped name such as zone-partition (see `mzsim scenario list`)")
    v.set_defaults(func=validate_cmd)
    ls = ssub.add_parser("list", help="list the scenarios that ship with mzsim")
    ls.set_defaults(func=list_cmd)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_cmd(args) -> int:
    from scenarios.runner import run

    if args.repeat < 1 or args.repeat > 100:
        print("mzsim scenario run: --repeat must be from 1 to 100")
        return 2
    return run(args.files, report=args.report, keep=args.keep, seed=args.seed, repeat=args.repeat,
               junit=args.junit, html=args.html)


def validate_cmd(args) -> int:
    from scenarios.runner import load_all

    scenarios, errors = load_all(args.files)
    for e in errors:
        print(f"invalid scenario: {e}")
    for sc in scenarios:
        print(f"{sc.path}: ok ({len(sc.zones)} zones, {len(sc.steps)} steps)")
    return 2 if errors else 0


def list_cmd(args) -> int:
    from scenarios.runner import load_all, shipped

    scenarios, errors = load_all(shipped())
    for sc in scenarios:
        summary = " ".join(sc.description.split()).split(". ")[0].rstrip(".")  # the first sentence
        print(f"{os.path.splitext(os.path.basename(sc.path))[0]:28} {summary}")
    for e in errors:
        print(f"invalid scenario: {e}")
    return 2 if errors else 0
