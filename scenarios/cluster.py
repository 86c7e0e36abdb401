"""A scenario's processes at run time: global, its zones (each dialing global
through its own fault proxy), and the reads conditions make (the Probe).

Processes are started with mzsim/launcher.py; its calls block (they wait
for ports), so they run in threads and the proxies keep pumping meanwhile."""
from __future__ import annotations

import asyncio
import os
import signal

from common.resources import global_api_path, to_universal
from mzsim.launcher import Global, Proc, Zone, http
from mzsim.waiting import free_port

from .model import Scenario
from .proxy import FaultProxy

HTTP_TIMEOUT = 3.0


class ClusterError(Exception):
    pass


class Cluster:
    def __init__(self, scenario: Scenario, workdir: str):
        self.scenario = scenario
        self.workdir = workdir
        self.glob = Global(workdir, extra_args=scenario.global_args, env={**scenario.env, **scenario.global_env})
        self.proxies: dict[str, FaultProxy] = {}
        self.zones: dict[str, Zone] = {}
        self.expected: set[str] = set()  # processes that should be running now

    # -- lifecycle -------------------------------------------------------------
    async def up(self, say) -> None:
        """Global, the resources, then the zones marked to start."""
        for spec in self.scenario.zones:
            proxy = await FaultProxy(spec.name, "127.0.0.1", self.glob.kds_port, free_port()).start()
            self.proxies[spec.name] = proxy
            extra = ["--dataplanes", str(spec.dataplanes), "--services", str(spec.services),
                     "--mesh", ",".join(spec.meshes), "--environment", spec.environment, *spec.args]
            self.zones[spec.name] = Zone(self.workdir, spec.name, self.glob, extra_args=extra,
                                         env={**self.scenario.env, **spec.env},
                                         kds_address=self.glob.kds_url(proxy.port))
        await self.start("global")
        say(f"global up: API {self.glob.api}, KDS {self.glob.kds}")
        for res in self.scenario.resources:
            status, body = await self.apply(res)
            if status not in (200, 201):
                raise ClusterError(f"global rejected {res.kind} {res.name} from resources: {api_error_text(body)}")
            say(f"applied {res.kind} {res.name}")
        for spec in self.scenario.zones:
            if spec.token_for:
                path = await asyncio.to_thread(self.glob.token_file, spec.token_for)
                self.zones[spec.name].token_file = path
            if spec.start:
                await self.start(spec.name)
                say(f"{spec.name} up: API {self.zones[spec.name].api} (KDS via proxy :{self.proxies[spec.name].port})")

    async def down(self) -> list[str]:
        """Stop everything this cluster started. Returns processes that would not stop."""
        # Proxies first: a black-holed link would hold each side's close handshake until its
        # timeout; reset links make shutdown prompt.
        for proxy in self.proxies.values():
            await proxy.close()
        procs = [p for p in self._procs() if p.alive()]
        for p in procs:  # all at once, so the slowest bounds the wait, not the sum
            try:
                p.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in procs))
        self.expected.clear()
        return [p.log_path for p in procs if p.alive()]

    def _procs(self) -> list[Proc]:
        return [x.proc for x in [*self.zones.values(), self.glob] if x.proc is not None]

    def _target(self, name: str) -> Global | Zone:
        return self.glob if name == "global" else self.zones[name]

    async def start(self, name: str) -> None:
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
        await asyncio.to_thread(self._target(name).proc.stop)

    async def kill(self, name: str) -> None:
        self._require_running(name)
        self.expected.discard(name)
        await asyncio.to_thread(self._target(name).proc.kill, signal.SIGKILL)

    async def restart(self, name: str) -> None:
        await self.stop(name)
        await self.start(name)

    def _require_running(self, name: str) -> None:
        target = self._target(name)
        if target.proc is None or not target.proc.alive():
            raise ClusterError(f"{name} is not running; start it first")

    def unexpected_exits(self) -> list[str]:
        """Processes that should be running but are not: each with its exit code and log tail."""
        out = []
        for name in sorted(self.expected):
            proc = self._target(name).proc
            if proc is not None and not proc.alive():
                out.append(f"{name} exited with code {proc.popen.returncode}; log tail:\n{self.log_tail(name)}")
        return out

    # -- global's API ----------------------------------------------------------
    async def apply(self, res) -> tuple[int | None, object]:

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

    def running_zones(self) -> list[str]:
        return [z for z in self.zones if z in self.expected]

    def log_text(self, process: str) -> str:
        proc = self._target(process).proc
        if proc is None or not os.path.exists(proc.log_path):
            return ""
        return proc.log()

    def log_tail(self, process: str, lines: int = 15) -> str:
        return "\n".join("    " + line for line in self.log_text(process).splitlines()[-lines:])

    def log_paths(self) -> dict[str, str]:
        return {name: self._target(name).proc.log_path for name in self.scenario.processes
                if self._target(name).proc is not None}

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
