"""Runs the demo: starts processes, applies meshes, prints progress and a live
summary, and stops everything it started (also on Ctrl-C)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time

from mzsim.extras import MissingExtra
from mzsim.launcher import Global, Zone
from mzsim.waiting import WaitTimeout, wait_until

from . import backends as demo_backends
from .summary import line, nacked, snapshot


class Demo:
    def __init__(self, args):
        self.args = args
        self.keep = bool(args.data_dir)
        self.dir = args.data_dir or tempfile.mkdtemp(prefix="mzsim-demo-")
        os.makedirs(self.dir, exist_ok=True)
        self.started: list = []  # everything with a .proc or .stop(), stopped in reverse
        self.stopping = False
        self.tty = sys.stdout.isatty()
        self.dead: dict[str, float] = {}  # exited process -> when a restart may be tried next
        self.nacks: dict[str, str] = {}  # zone -> the last NACK error shown

    def say(self, msg: str) -> None:
        print(f"[demo] {msg}", flush=True)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            return self._run()
        except KeyboardInterrupt:
            self.say("interrupted")
            return 0
        except (WaitTimeout, demo_backends.DemoError, MissingExtra) as e:
            self.say(f"failed: {e}")
            return 1
        finally:
            self.shutdown()

    def _run(self) -> int:
        a = self.args
        backends = [b.strip() for b in a.backends.split(",") if b.strip()]
        self.say(f"working directory {self.dir}")
        plans = []
        for b in backends:
            self.say(f"preparing the {b} backend ...")
            plan = demo_backends.prepare(b, self)
            plans.append(plan)
            self.say(f"  {plan.describe}")
        env = self.backend_env(plans)
        self.say("starting global control plane ...")
        g = Global(self.dir, env=env, extra_args=[a for p in plans for a in p.global_args])
        self.started.append(g)
        g.start()
        self.say(f"global is up: API {g.api}  dashboard {g.api}/dashboard")
        for plan in plans:
            for path, body in plan.resources(a.cert_lifetime):
                status, resp = g.put(path, body)
                if status not in (200, 201):
                    raise demo_backends.DemoError(f"global rejected {path}: {json.dumps(resp)}")
                for w in (resp.get("warnings") if isinstance(resp, dict) else None) or []:
                    self.say(f"  global warns: {w}")
            self.say(f"applied mesh {plan.mesh} ({plan.backend_type} backend, certificates live "
                     f"{a.cert_lifetime}); global test-issued a certificate from it")

        meshes = [p.mesh for p in plans]
        zones = []
        for i in range(a.zones):
            name = f"zone-{i + 1}"
            kube = next((p for p in plans if p.needs_kubernetes), None)
            extra = ["--dataplanes", str(a.dataplanes), "--services", str(a.services)]
            zone_meshes = [p.mesh for p in plans if not p.needs_kubernetes or (kube and i == 0)]
            if zone_meshes:
                extra += ["--mesh", ",".join(zone_meshes)]
            else:
                extra = []  # no mesh this zone can serve: no simulated dataplanes
            if kube and i == 0:
                extra += ["--environment", "kubernetes", "--kubeconfig", kube.kubeconfig]
            z = Zone(self.dir, name, g, extra_args=extra, env=env)
            self.started.append(z)
            what = (f"{a.dataplanes} dataplanes per mesh in {', '.join(zone_meshes)}" if zone_meshes
                    else "no dataplanes: its meshes need a Kubernetes zone")
            self.say(f"starting {name} ({'kubernetes' if kube and i == 0 else 'universal'}, {what}) ...")
            z.start()
            zones.append(z)
        for z in zones:
            wait_until(lambda z=z: z.status().get("connected"), 30, what=f"{z.name} to connect")
        self.say("all zones connected: " + "  ".join(f"{z.name} {z.api}" for z in zones))
        self.say(f"meshes: {', '.join(meshes)}.  Try: curl {g.api}/status/zones   "
                 f"curl {zones[0].api}/meshes/{meshes[0]}/dataplanes/dp-0/identity")
        self.say("processes: " + "  ".join(f"{getattr(p, 'name', 'global')} pid {p.proc.popen.pid}"
                                           for p in [g, *zones]) +
                 "  (try kill -9 PID, or kill -STOP PID then kill -CONT PID"
                 + ("; dead ones are restarted)" if a.restart_dead else "; --restart-dead restarts dead ones)"))
        self.say("live summary (Ctrl-C to stop):" if not a.duration else f"running for {a.duration:g}s:")
        deadline = time.monotonic() + a.duration if a.duration else None
        last = ""
        while deadline is None or time.monotonic() < deadline:
            for p in [g, *zones]:
                self.watch(p)
            insight = snapshot(g.api)
            for zone, error in nacked(insight).items():
                if self.nacks.get(zone) != error:
                    self.nacks[zone] = error
                    self.event(f"{zone} NACKed: {error}")
            current = line(insight)
            if self.tty:
                print("\r" + current.ljust(110), end="", flush=True)
            elif current != last:  # a log, not a terminal: only changes
                print(current, flush=True)
            last = current
            time.sleep(1.0)
        if self.tty:
            print()
        self.say("final: " + line(snapshot(g.api)))
        return 0

    def event(self, msg: str) -> None:
        """A message between live summary lines."""
        if self.tty:
            print("\r" + " " * 110 + "\r", end="")
        self.say(msg)

    def watch(self, p) -> None:
        """Report a process that exited, once, and restart it with --restart-dead."""
        name = getattr(p, "name", "global")
        if p.proc.alive():
            self.dead.pop(name, None)
            return
        if name not in self.dead:
            self.dead[name] = 0.0
            self.event(f"{name} exited (status {p.proc.returncode()}); see {p.proc.log_path}"
                       + ("; restarting it" if self.args.restart_dead else "; the demo goes on without it"))
        if not self.args.restart_dead or time.monotonic() < self.dead[name]:
            return
        self.dead[name] = time.monotonic() + 5.0  # if it dies again at once, retry in 5 s
        p.proc.stop()  # closes the old log handle
        try:
            p.start()
        except WaitTimeout:
            self.event(f"{name} did not come back; trying again in 5 s")
            return
        self.event(f"{name} restarted (pid {p.proc.popen.pid})")

    def backend_env(self, plans) -> dict:
        env = {}
        for p in plans:
            env.update(p.env)
        return env

    def shutdown(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.say("stopping every process the demo started ...")
        for item in reversed(self.started):
            proc = getattr(item, "proc", None)
            if proc is not None:
                proc.stop()
            elif hasattr(item, "stop"):
                item.stop()
        left = [getattr(i, "proc", None) for i in self.started]
        alive = [p for p in left if p is not None and p.alive()]
        self.say("all stopped" if not alive else f"{len(alive)} processes did not stop")
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
