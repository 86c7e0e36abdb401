"""A scenario's processes at run time: global, its zones (each dialing global
through its own fault proxy), and the reads conditions make (the Probe).

Processes are started with mzsim/launcher.py; its calls block (they wait
for ports), so they run in threads and the proxies keep pumping meanwhile."""
from __future__ import annotations

import asyncio
import os
import random
import signal
import time

from common.resources import global_api_path, parse_resource, to_universal
from mzsim.launcher import Global, Proc, Zone, http
from mzsim.waiting import free_port, free_port_range, wait_port

from .backends import Backend, BackendError
from .model import PLACEHOLDER, Scenario, substitute
from .proxy import FaultProxy
from .sampler import Sampler

HTTP_TIMEOUT = 3.0


class ClusterError(Exception):
    pass


class Cluster:
    def __init__(self, scenario: Scenario, workdir: str, seed: int = 0):
        self.scenario = scenario
        self.workdir = workdir
        self.seed = seed
        self.rng = random.Random(seed)  # every jitter the runner adds (delay steps) draws from this
        self.glob = Global(workdir, extra_args=list(scenario.global_args),
                           env={**scenario.env, **scenario.global_env})
        self.proxies: dict[str, FaultProxy] = {}
        self.zones: dict[str, Zone] = {}
        self.expected: set[str] = set()  # processes that should be running now
        self.backends: dict[str, Backend] = {b.name: Backend(b, workdir) for b in scenario.backends}
        self.paused: set[str] = set()
        self.groups: dict[str, ZoneGroup] = {}  # `count` zones in one process, known by the spec's name
        self.watches: dict = {}  # condition text -> steps.Watch
        self.sampler = Sampler(self)
        self.burst: asyncio.Task | None = None
        self.acked: list[str] = []  # meshes of the burst global acknowledged
        self.unacked: list[str] = []
        self.t0 = time.monotonic()
        self.events: list[tuple[float, str, str]] = []  # (seconds since start, kind, text): the timeline
        self.last_heal: float | None = None  # wall clock of the last heal/resume/start/clear (issuance resumed)

    def event(self, kind: str, text: str) -> None:
        self.events.append((round(time.monotonic() - self.t0, 2), kind, text))

    def backend_of(self, process: str) -> Backend | None:
        return next((b for b in self.backends.values() if process in b.spec.processes), None)

    def link(self, name: str) -> FaultProxy:
        """A zone's link to global, or every zone's (and global's) link to a backend."""
        return self.backends[name].proxy if name in self.backends else self.proxies[name]

    def values(self) -> dict[str, dict[str, str]]:
        return {name: b.values for name, b in self.backends.items()}

    def resolve(self, raw):
        """A resource document with its ${NAME.FIELD} filled in from the running backends."""
        return parse_resource(substitute(raw, self.values()))

    # -- lifecycle -------------------------------------------------------------
    async def up(self, say) -> None:
        """The backends (set up), global, the resources, then the zones marked to start."""
        env: dict[str, str] = {}
        kubeconfig = ""
        for b in self.backends.values():
            await b.proxy.start()
            for name in b.spec.processes:
                self.expected.add(name)
            try:
                await asyncio.to_thread(b.up, say)
            except Exception as e:  # noqa: BLE001 - a setup failure names the backend
                raise ClusterError(f"backend {b.spec.name} ({b.spec.type}) could not be set up: {e}") from None
            self.event("backend", f"{b.spec.name} ({b.spec.type}) up")
            env.update(b.env)
            self.glob.extra_args += b.global_args
            kubeconfig = kubeconfig or b.kubeconfig
        self.glob.env.update(env)
        for spec in self.scenario.zones:
            proxy = await FaultProxy(spec.name, "127.0.0.1", self.glob.kds_port, free_port()).start()
            self.proxies[spec.name] = proxy
            extra = ["--dataplanes", str(spec.dataplanes), "--services", str(spec.services),
                     "--mesh", ",".join(spec.meshes), "--environment", spec.environment, *spec.args]
            if spec.environment == "kubernetes" and kubeconfig:
                extra += ["--kubeconfig", kubeconfig]
            if spec.count > 1:
                self.groups[spec.name] = ZoneGroup(self.workdir, spec.name, self.glob, extra_args=extra,
                                                   env={**self.scenario.env, **env, **spec.env},
                                                   kds_address=self.glob.kds_url(proxy.port), count=spec.count)
                continue
            self.zones[spec.name] = Zone(self.workdir, spec.name, self.glob, extra_args=extra,
                                         env={**self.scenario.env, **env, **spec.env},
                                         kds_address=self.glob.kds_url(proxy.port))
        await self.start("global")
        say(f"global up: API {self.glob.api}, KDS {self.glob.kds}")
        for raw in self.scenario.raw_resources:
            res = self.resolve(raw)
            status, body = await self.apply(res)
            if status not in (200, 201):
                raise ClusterError(f"global rejected {res.kind} {res.name} from resources: {api_error_text(body)}")
            say(f"applied {res.kind} {res.name}")
        for spec in self.scenario.zones:
            if spec.token_for and spec.name in self.zones:
                path = await asyncio.to_thread(self.glob.token_file, spec.token_for)
                self.zones[spec.name].token_file = path
            if spec.start:
                await self.start(spec.name)
                if spec.name in self.groups:
                    say(f"{spec.name} up: {spec.count} zones in one process (KDS via proxy "
                        f":{self.proxies[spec.name].port})")
                else:
                    say(f"{spec.name} up: API {self.zones[spec.name].api} (KDS via proxy "
                        f":{self.proxies[spec.name].port})")

    async def down(self) -> list[str]:
        """Stop everything this cluster started. Returns processes that would not stop."""
        # Proxies first: a black-holed link would hold each side's close handshake until its
        # timeout; reset links make shutdown prompt.
        for proxy in [*self.proxies.values(), *(b.proxy for b in self.backends.values())]:
            await proxy.close()
        procs = [p for p in self._procs() if p.alive()]
        for p in procs:  # all at once, so the slowest bounds the wait, not the sum
            try:
                p.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in procs))
        self.expected.clear()
        left = [p.log_path for p in procs if p.alive()]
        for b in self.backends.values():
            left += await asyncio.to_thread(b.stop_all)
        return left

    def _procs(self) -> list[Proc]:
        return [x.proc for x in [*self.zones.values(), *self.groups.values(), self.glob] if x.proc is not None]

    def _target(self, name: str) -> Global | Zone:
        return self.glob if name == "global" else self.zones.get(name) or self.groups[name]

    async def start(self, name: str) -> None:
        b = self.backend_of(name)
        if b is not None:
            if b.alive(name):
                raise ClusterError(f"{name} is already running; stop or kill it first")
            self.expected.add(name)
            try:
                await asyncio.to_thread(b.start_process, name)
            except Exception as e:  # noqa: BLE001 - the step's failure
                raise ClusterError(f"{name} did not start: {e}") from None
            self.healed(f"{name} started")
            return
        target = self._target(name)
        if target.proc is not None and target.proc.alive():
            raise ClusterError(f"{name} is already running; stop or kill it first")
        self.expected.add(name)
        try:
            await asyncio.to_thread(target.start)  # same ports, same data directory
        except Exception as e:  # noqa: BLE001 - reported as the step's failure, with the log
            raise ClusterError(f"{name} did not start: {e}; log tail:\n{self.log_tail(name)}") from None

    async def stop(self, name: str) -> None:
        self._require_running(name)
        self.expected.discard(name)
        self.event("fault", f"{name} stopped")
        if name in self.paused:
            await self.resume(name)
        await asyncio.to_thread(self._proc(name).stop)

    async def kill(self, name: str) -> None:
        self._require_running(name)
        self.expected.discard(name)
        self.event("fault", f"{name} killed")
        self.paused.discard(name)
        await asyncio.to_thread(self._proc(name).kill, signal.SIGKILL)

    async def pause(self, name: str) -> None:
        self._require_running(name)
        os.killpg(self._proc(name).popen.pid, signal.SIGSTOP)
        self.paused.add(name)
        self.event("fault", f"{name} paused (SIGSTOP)")

    async def resume(self, name: str) -> None:
        if name not in self.paused:
            raise ClusterError(f"{name} is not paused; pause it first")
        os.killpg(self._proc(name).popen.pid, signal.SIGCONT)
        self.paused.discard(name)
        self.healed(f"{name} resumed (SIGCONT)")

    def healed(self, text: str) -> None:
        self.last_heal = time.time()
        self.event("heal", text)

    def _proc(self, name: str) -> Proc:
        b = self.backend_of(name)
        proc = b.procs.get(name) if b is not None else self._target(name).proc
        if proc is None:
            raise ClusterError(f"{name} was never started")
        return proc

    async def restart(self, name: str) -> None:
        await self.stop(name)
        await self.start(name)

    def _require_running(self, name: str) -> None:
        b = self.backend_of(name)
        proc = b.procs.get(name) if b is not None else self._target(name).proc
        if proc is None or not proc.alive():
            raise ClusterError(f"{name} is not running; start it first")

    def unexpected_exits(self) -> list[str]:
        """Processes that should be running but are not: each with its exit code and log tail."""
        out = []
        for name in sorted(self.expected):
            b = self.backend_of(name)
            proc = b.procs.get(name) if b is not None else self._target(name).proc
            if proc is not None and not proc.alive():
                out.append(f"{name} exited with code {proc.popen.returncode}; log tail:\n{self.log_tail(name)}")
        return out

    # -- global's API ----------------------------------------------------------
    async def backend_action(self, kind: str, action: str, options: dict) -> str:
        b = self.backends[options["backend"]]
        try:
            if kind == "vault":
                done = await asyncio.to_thread(b.vault, action)
                if action == "replace-token":
                    done += await self._reapply_token_secrets(b.spec.name)
            elif kind == "acmpca":
                done = await asyncio.to_thread(b.acmpca, action, options["target"], options["count"],
                                               options["status"])
            else:
                done = await asyncio.to_thread(b.certmanager, action, options["reason"])
        except (BackendError, OSError) as e:
            raise ClusterError(f"{kind} {b.spec.name}: {e}") from None
        if action in ("unseal", "replace-token", "clear", "allow", "approve"):
            self.healed(f"{b.spec.name}: {action}")
        else:
            self.event("fault", f"{b.spec.name}: {action}")
        return done

    async def _reapply_token_secrets(self, backend: str) -> str:
        """Apply again every resource of the file that carries this backend's token."""
        names = []
        for raw in self.scenario.raw_resources:
            if any(m.group(1) == backend and m.group(2).startswith("token")
                   for m in PLACEHOLDER.finditer(str(raw))):
                res = self.resolve(raw)
                status, body = await self.apply(res)
                if status not in (200, 201):
                    raise ClusterError(f"global refused the new token in {res.kind} {res.name}: "
                                       f"{api_error_text(body)}")
                names.append(f"{res.kind} {res.name}")
        return f"; applied {', '.join(names)}" if names else "; no resource carries its token"

    async def apply_quiet(self, body: dict) -> tuple[int | None, object]:
        """A PUT of a Universal mesh, not on the timeline (bursts)."""
        return await self._http("PUT", f"{self.glob.api}/meshes/{body['name']}", body)

    async def apply(self, res) -> tuple[int | None, object]:
        self.event("apply", f"{res.kind} {res.name}")
        return await self._http("PUT", self.glob.api + global_api_path(res), to_universal(res))

    async def delete(self, kind: str, name: str) -> tuple[int | None, object]:
        if kind == "mesh":
            path = f"/meshes/{name}"
        elif kind == "secret":
            mesh, _, secret = name.partition("/")
            path = f"/meshes/{mesh}/secrets/{secret}"
        else:
            path = f"/global-secrets/{name}"
        return await self._http("DELETE", self.glob.api + path)

    async def register(self, zone: str, mesh: str, name: str, service: str, tags: dict) -> tuple[int | None, object]:
        body = {"type": "Dataplane", "mesh": mesh, "name": name, "networking": {
            "address": "10.99.0.1", "inbound": [{"port": 8080, "tags": {"kuma.io/service": service, **tags}}]}}
        return await self._http("PUT", f"{self.zones[zone].api}/meshes/{mesh}/dataplanes/{name}", body)

    # -- the Probe used by conditions -----------------------------------------
    async def global_get(self, path: str):
        return await self._http("GET", self.glob.api + path)

    async def zone_get(self, zone: str, path: str):
        return await self._http("GET", self.zones[zone].api + path)

    def burst_state(self) -> tuple[bool, list[str], list[str]]:
        done = self.burst is None or self.burst.done()
        return done, list(self.acked), list(self.unacked)

    def running_zones(self) -> list[str]:
        return [z for z in self.zones if z in self.expected]

    def log_text(self, process: str) -> str:
        b = self.backend_of(process)
        proc = b.procs.get(process) if b is not None else self._target(process).proc
        if proc is None or not os.path.exists(proc.log_path):
            return ""
        return proc.log()

    def log_tail(self, process: str, lines: int = 15) -> str:
        return "\n".join("    " + line for line in self.log_text(process).splitlines()[-lines:])

    def log_paths(self) -> dict[str, str]:
        out = {name: self._target(name).proc.log_path for name in ["global", *self.zones, *self.groups]
               if self._target(name).proc is not None}
        for b in self.backends.values():
            out.update({name: p.log_path for name, p in b.procs.items()})
        return out

    @staticmethod
    async def _http(method: str, url: str, body=None):
        """(status, body); (None, reason) when nothing answers."""
        try:
            return await asyncio.to_thread(http, method, url, body, timeout=HTTP_TIMEOUT)
        except OSError as e:  # URLError, refused, reset, timeout
            return None, f"no answer from {url}: {getattr(e, 'reason', e)}"


def api_error_text(body) -> str:
    """Kuma's error shape as one line: details, then field: message per cause."""
    if not isinstance(body, dict):
        return str(body)
    causes = "; ".join(f"{c.get('field')}: {c.get('message')}" for c in body.get("causes") or [])
    return f"{body.get('details') or body.get('title') or body}" + (f" ({causes})" if causes else "")


class ZoneGroup(Zone):
    """`count` zones {name}-1 ... in one `mzsim zone --count` process, on consecutive API ports."""

    def __init__(self, workdir: str, name: str, glob: Global, *, count: int, **kwargs):
        super().__init__(workdir, name, glob, **kwargs)
        self.count = count
        self.api_port = free_port_range(count)

    def start(self) -> Zone:
        names = [f"{self.name}-{i + 1}" for i in range(self.count)]
        if not os.path.exists(os.path.join(self.workdir, f"{names[-1]}.token")):
            for n in names:
                self.glob.token_file(n)  # {workdir}/{zone}.token
        args = ["zone", "--count", str(self.count), "--name-prefix", f"{self.name}-", "--api-port",
                str(self.api_port), "--data-dir", self.data_dir, "--global-address", self.kds_address or self.glob.kds,
                "--token-file", os.path.join(self.workdir, "{zone}.token")]
        if self.glob.kds_tls and not {"--kds-ca-cert", "--kds-tls-skip-verify"} & set(self.extra_args):
            args += ["--kds-ca-cert", self.glob.kds_ca]
        self.proc = Proc(args + self.extra_args, os.path.join(self.workdir, f"{self.name}.log"), self.env).start()
        wait_port(self.api_port + self.count - 1, timeout=60)
        return self
