"""Scenario files: parsing and validation, before anything is started.

Every problem in a file is collected and reported together, each naming where
it is (`topology.zones[1].dataplanes`, `steps[4] (wait).timeout`) and how to
fix it. See docs/scenarios.md for the format."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from common.durations import DurationError, parse_duration
from common.errors import MzsimError
from common.resources import Resource, load_documents, parse_resource

from .conditions import Condition, ConditionError
from .conditions import parse as parse_condition

MAX_WAIT = 600.0  # no step may wait, hold or advance longer than this (seconds)
DEFAULT_WAIT = 30.0
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

# step kind -> the option keys it accepts besides its own
STEP_OPTIONS: dict[str, set[str]] = {
    "note": set(),
    "apply": {"outcome", "field", "message", "warning"},
    "delete": set(),
    "register": set(),
    "wait": {"timeout"},
    "expect": {"within", "for"},
    "kill": set(), "stop": set(), "start": set(), "restart": set(),
    "partition": {"mode"},
    "delay": {"latency", "jitter"},
    "heal": set(),
    "advance": set(),
    "pause": set(), "resume": set(),
    "watch": set(), "unwatch": set(),
    "burst": {"prefix", "concurrency"},
    "vault": {"backend"},
    "acmpca": {"backend", "count", "target", "status"},
    "certmanager": {"backend", "reason"},
}
PROCESS_STEPS = ("kill", "stop", "start", "restart", "pause", "resume")
BACKEND_TYPES = ("vault", "acmpca", "certmanager")
BACKEND_KEYS = {"name", "type", "mesh", "token_ttl", "token_renewable", "key_type"}
# the values a backend offers to resources as ${NAME.FIELD}, with a stand-in used to validate files
BACKEND_FIELDS: dict[str, dict[str, str]] = {
    "vault": {"address": "http://127.0.0.1:1", "token": "stand-in-token", "token_b64": "c3RhbmQtaW4=",
              "pki": "kmesh-pki-x", "role": "dataplane-proxies"},
    "acmpca": {"endpoint": "http://127.0.0.1:1",
               "arn": "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/"
                      "00000000-0000-0000-0000-000000000000"},
    "certmanager": {"issuer": "my-ca-issuer", "kind": "Issuer", "namespace": "kong-mesh-system"},
}
VAULT_ACTIONS = ("seal", "unseal", "revoke-token", "replace-token")
ACMPCA_ACTIONS = ("throttle", "fail", "clear")
CERTMANAGER_ACTIONS = ("deny", "allow", "stop-approving", "approve")
PLACEHOLDER = re.compile(r"\$\{([a-z0-9-]+)\.([a-z_0-9]+)\}")
LINK_STEPS = ("partition", "delay", "heal")
ZONE_KEYS = {"name", "environment", "dataplanes", "services", "meshes", "env", "args", "token_for", "start", "count"}
DELETE_FORMS = "'mesh NAME', 'secret MESH/NAME' or 'global-secret NAME'"


class ScenarioError(MzsimError):
    """A scenario file that cannot run; `problems` lists every error found."""

    def __init__(self, path: str, problems: list[str]):
        self.path, self.problems = path, problems
        super().__init__(f"{path}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass
class ZoneSpec:
    name: str
    environment: str = "universal"
    dataplanes: int = 0
    services: int = 1
    meshes: list[str] = field(default_factory=lambda: ["default"])
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    token_for: str = ""  # a token issued for another zone (a refused-token scenario)
    start: bool = True  # start with the topology, or later with a `start` step
    count: int = 1  # >1: this many zones ({name}-1 ...) in one `mzsim zone --count` process


@dataclass
class BackendSpec:
    name: str
    type: str
    mesh: str = "default"  # the mesh its setup is for (vault's PKI path, role and policy)
    token_ttl: str = ""  # vault: a short-lived token (e.g. 20s) to rehearse expiry
    token_renewable: bool = True
    key_type: str = "ec"

    @property
    def processes(self) -> list[str]:
        """Names of its processes, for process steps: certmanager has the API and the controller."""
        return [self.name, f"{self.name}-controller"] if self.type == "certmanager" else [self.name]


def substitute(value: Any, values: dict[str, dict[str, str]]) -> Any:
    """`value` with every ${NAME.FIELD} replaced from values[NAME][FIELD]."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: values[m.group(1)][m.group(2)], value)
    if isinstance(value, dict):
        return {k: substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    return value


@dataclass
class Step:
    index: int  # 1-based, as printed
    kind: str
    target: Any  # the value of the kind's key, parsed
    options: dict = field(default_factory=dict)
    condition: Condition | None = None
    raw: Any = None  # an apply's document before ${...} substitution

    @property
    def title(self) -> str:
        if self.kind == "apply":
            res: Resource = self.target
            return f"apply {res.kind} {res.name} (expect {self.options['outcome']})"
        if self.kind == "register":
            return f"register dataplane {self.target['mesh']}/{self.target['name']} in {self.target['zone']}"
        if self.kind in ("watch", "unwatch"):
            return f"{self.kind} {self.condition.text}"
        if self.kind in ("wait", "expect"):
            extra = ""
            if self.kind == "wait":
                extra = f" (timeout {self.options['timeout']:g}s)"
            elif self.options.get("within"):
                extra = f" (within {self.options['within']:g}s)"
            elif self.options.get("for"):
                extra = f" (for {self.options['for']:g}s)"
            return f"{self.kind} {self.condition.text}{extra}"
        if self.kind == "advance":
            return f"advance {self.target:g}s"
        if self.kind == "burst":
            return f"burst of {self.target} mesh applies ({self.options['prefix']}-N), in the background"
        if self.kind == "partition":
            return f"partition {self.target} ({self.options['mode']})"
        if self.kind == "delay":
            jitter = f" ± {self.options['jitter']:g}s" if self.options.get("jitter") else ""
            return f"delay {self.target} by {self.options['latency']:g}s{jitter}"
        if self.kind == "delete":
            return f"delete {self.target[0]} {self.target[1]}"
        if self.kind in BACKEND_TYPES:
            extra = f" x{self.options['count']}" if self.options.get("count") else ""
            return f"{self.kind} {self.options['backend']}: {self.target}{extra}"
        return f"{self.kind} {self.target}"


@dataclass
class Scenario:
    path: str
    name: str
    description: str
    env: dict[str, str]
    global_env: dict[str, str]
    global_args: list[str]
    zones: list[ZoneSpec]
    resources: list[Resource]
    steps: list[Step]
    backends: list[BackendSpec] = field(default_factory=list)
    raw_resources: list[Any] = field(default_factory=list)

    @property
    def processes(self) -> list[str]:
        return ["global"] + [z.name for z in self.zones] + [p for b in self.backends for p in b.processes]


def load(path: str) -> Scenario:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ScenarioError(path, [f"cannot read the file: {e.strerror}"]) from None
    try:
        docs = load_documents(text, "scenario")  # ScenarioError names the path
    except MzsimError as e:
        raise ScenarioError(path, [str(e)]) from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ScenarioError(path, ["a scenario file is one YAML mapping with name, topology, resources and steps"])
    return _Parser(path).scenario(docs[0])


class _Parser:
    def __init__(self, path: str):
        self.path = path
        self.problems: list[str] = []
        self.backend_specs: list[BackendSpec] = []

    def bad(self, where: str, msg: str) -> None:
        self.problems.append(f"{where}: {msg}")

    # -- the file ------------------------------------------------------------
    def scenario(self, doc: dict) -> Scenario:
        self.unknown(doc, {"name", "description", "topology", "resources", "steps"}, "")
        default_name = os.path.splitext(os.path.basename(self.path))[0]
        name = doc.get("name", default_name)
        if not isinstance(name, str) or not name:
            self.bad("name", "must be a non-empty string")
            name = default_name
        description = doc.get("description", "")
        if not isinstance(description, str):
            self.bad("description", "must be a string")
            description = ""
        topo = doc.get("topology")
        if not isinstance(topo, dict):
            self.bad("topology", "is required: a mapping with 'global' and 'zones'")
            topo = {}
        self.unknown(topo, {"env", "global", "zones", "backends"}, "topology.")
        env = self.env(topo.get("env"), "topology.env")
        glob = topo.get("global") or {}
        if not isinstance(glob, dict):
            self.bad("topology.global", "must be a mapping (env, args)")
            glob = {}
        self.unknown(glob, {"env", "args"}, "topology.global.")
        global_env = self.env(glob.get("env"), "topology.global.env")
        global_args = self.strings(glob.get("args"), "topology.global.args")
        zones = self.zones(topo.get("zones"))
        self.backend_specs = self.backends(topo.get("backends"), {z.name for z in zones})
        processes = ["global"] + [z.name for z in zones] + [p for b in self.backend_specs for p in b.processes]
        raw_resources = doc.get("resources") if isinstance(doc.get("resources"), list) else []
        resources = self.resources(doc.get("resources"))
        steps = self.steps(doc.get("steps"), processes, [z.name for z in zones])
        if self.problems:
            raise ScenarioError(self.path, self.problems)
        return Scenario(self.path, name, description, env, global_env, global_args, zones, resources, steps,
                        self.backend_specs, raw_resources)

    def backends(self, value, zone_names: set[str]) -> list[BackendSpec]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.bad("topology.backends", "must be a list of backends, each {name, type: vault|acmpca|certmanager}")
            return []
        out: list[BackendSpec] = []
        for i, b in enumerate(value):
            where = f"topology.backends[{i}]"
            if not isinstance(b, dict):
                self.bad(where, "must be a mapping with name and type")
                continue
            self.unknown(b, BACKEND_KEYS, f"{where}.")
            name, kind = b.get("name"), b.get("type")
            if not isinstance(name, str) or not NAME_RE.match(name) or name == "global" or name in zone_names \
                    or any(name in o.processes for o in out):
                self.bad(f"{where}.name", "must be a lowercase DNS label, unique among zones and backends")
                continue
            if kind not in BACKEND_TYPES:
                self.bad(f"{where}.type", f"is {kind!r}; use one of {', '.join(BACKEND_TYPES)}")
                continue
            spec = BackendSpec(name, kind, mesh=str(b.get("mesh") or "default"),
                               token_renewable=b.get("token_renewable", True) is not False,
                               key_type=str(b.get("key_type") or "ec"))
            if "token_ttl" in b:
                if kind != "vault":
                    self.bad(f"{where}.token_ttl", "only a vault backend has a token")
                self.duration(b["token_ttl"], f"{where}.token_ttl")
                spec.token_ttl = str(b["token_ttl"])
            out.append(spec)
        return out

    def placeholders(self, doc, where: str):
        """`doc` with each ${NAME.FIELD} checked and replaced by a stand-in (to validate the file)."""
        specs = {b.name: b for b in getattr(self, "backend_specs", [])}
        stand_in: dict[str, dict[str, str]] = {}
        for m in PLACEHOLDER.finditer(str(doc)):
            b = specs.get(m.group(1))
            if b is None:
                self.bad(where, f"${{{m.group(1)}.{m.group(2)}}}: no backend {m.group(1)!r} in topology.backends")
            elif m.group(2) not in BACKEND_FIELDS[b.type]:
                self.bad(where, f"${{{m.group(1)}.{m.group(2)}}}: a {b.type} backend offers "
                                f"{', '.join(BACKEND_FIELDS[b.type])}")
        for name, b in specs.items():
            stand_in[name] = BACKEND_FIELDS[b.type]
        try:
            return substitute(doc, stand_in)
        except KeyError:
            return doc

    def unknown(self, d: dict, known: set[str], prefix: str) -> None:
        for k in d:
            if k not in known:
                self.bad(f"{prefix}{k}", f"unknown key; known keys: {', '.join(sorted(known))}")

    def env(self, value, where: str) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad(where, "must be a mapping of environment variables, e.g. {MZSIM_KDS_LIVENESS_TIMEOUT: 2s}")
            return {}
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
                self.bad(f"{where}.{k}", "is not an environment variable name")
            elif isinstance(v, (dict, list)) or v is None:
                self.bad(f"{where}.{k}", "must be a string or a number")
            else:
                out[k] = str(v).lower() if isinstance(v, bool) else str(v)
        return out

    def strings(self, value, where: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            self.bad(where, "must be a list of strings")
            return []
        return [str(v) for v in value]

    def duration(self, value, where: str, default: float | None = None) -> float | None:
        if value is None:
            return default
        try:
            seconds = parse_duration(value)
        except DurationError as e:
            self.bad(where, str(e))
            return default
        if seconds > MAX_WAIT:
            self.bad(where, f"{value} is longer than the {MAX_WAIT:g}s limit of one step")
        return seconds

    # -- topology --------------------------------------------------------------
    def zones(self, value) -> list[ZoneSpec]:
        if not isinstance(value, list) or not value:
            self.bad("topology.zones", "is required: a list of zones, each with at least a name")
            return []
        out, seen = [], set()
        for i, z in enumerate(value):
            where = f"topology.zones[{i}]"
            if not isinstance(z, dict):
                self.bad(where, "must be a mapping with at least 'name'")
                continue
            self.unknown(z, ZONE_KEYS, f"{where}.")
            name = z.get("name")
            if not isinstance(name, str) or not NAME_RE.match(name) or name == "global":
                self.bad(f"{where}.name", "must be a lowercase DNS label such as zone-1 (and not 'global')")
                continue
            if name in seen:
                self.bad(f"{where}.name", f"zone {name!r} appears twice; zone names must be unique")
            seen.add(name)
            spec = ZoneSpec(name)
            env = z.get("environment", "universal")
            if env not in ("universal", "kubernetes"):
                self.bad(f"{where}.environment", f"is {env!r}; use universal or kubernetes")
            spec.environment = env
            for key in ("dataplanes", "services"):
                v = z.get(key, getattr(spec, key))
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    self.bad(f"{where}.{key}", f"must be a whole number >= 0, got {v!r}")
                else:
                    setattr(spec, key, v)
            meshes = z.get("meshes", spec.meshes)
            if isinstance(meshes, str):
                meshes = [meshes]
            if not isinstance(meshes, list) or not meshes or not all(isinstance(m, str) and m for m in meshes):
                self.bad(f"{where}.meshes", "must be a list of mesh names (the meshes of its simulated dataplanes)")
            else:
                spec.meshes = meshes
            spec.env = self.env(z.get("env"), f"{where}.env")
            spec.args = self.strings(z.get("args"), f"{where}.args")
            token_for = z.get("token_for", "")
            if not isinstance(token_for, str):
                self.bad(f"{where}.token_for", "must be a zone name")
            spec.token_for = token_for or ""
            start = z.get("start", True)
            if not isinstance(start, bool):
                self.bad(f"{where}.start", "must be true or false")
            spec.start = start is not False
            count = z.get("count", 1)
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 500:
                self.bad(f"{where}.count", f"must be a whole number from 1 to 500, got {count!r}")
            else:
                spec.count = count
            out.append(spec)
        return out

    def resources(self, value) -> list[Resource]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.bad("resources", "must be a list of resources (Universal or Kubernetes form)")
            return []
        out = []
        for i, doc in enumerate(value):
            res = self.resource(doc, f"resources[{i}]")
            if res is not None:
                out.append(res)
        return out

    def resource(self, doc, where: str) -> Resource | None:
        try:
            res = parse_resource(self.placeholders(doc, where))
        except MzsimError as e:
            self.bad(where, str(e))
            return None
        if res.kind not in ("Mesh", "Secret", "GlobalSecret"):
            self.bad(where, f"{res.kind} is not applied on global; use Mesh, Secret or GlobalSecret "
                            "(dataplanes belong to zones: use a 'register' step)")
            return None
        return res

    # -- steps -----------------------------------------------------------------
    def steps(self, value, processes: list[str], zones: list[str]) -> list[Step]:
        if not isinstance(value, list) or not value:
            self.bad("steps", "is required: a non-empty list of steps")
            return []
        out = []
        for i, raw in enumerate(value):
            n = len(self.problems)
            step = self.step(i, raw, processes, zones)
            if step is not None and len(self.problems) == n:
                out.append(step)
        return out

    def step(self, i: int, raw, processes: list[str], zones: list[str]) -> Step | None:
        where = f"steps[{i}]"
        if isinstance(raw, str) and raw.split(" ", 1)[0] in STEP_OPTIONS:
            kind, _, rest = raw.partition(" ")  # shorthand: "- kill global"
            raw = {kind: rest}
        if not isinstance(raw, dict):
            self.bad(where, f"must be a mapping with one of: {', '.join(STEP_OPTIONS)}")
            return None
        kinds = [k for k in raw if k in STEP_OPTIONS]
        if len(kinds) != 1:
            found = f"found {', '.join(kinds)}" if kinds else f"found only {', '.join(map(str, raw)) or 'nothing'}"
            self.bad(where, f"needs exactly one step kind ({', '.join(STEP_OPTIONS)}); {found}")
            return None
        kind = kinds[0]
        where = f"steps[{i}] ({kind})"
        for k in raw:
            if k != kind and k not in STEP_OPTIONS[kind]:
                allowed = ", ".join(sorted(STEP_OPTIONS[kind])) or "none"
                self.bad(f"{where}.{k}", f"is not an option of {kind}; its options: {allowed}")
        step = Step(i + 1, kind, raw[kind])
        value = raw[kind]
        if kind == "note":
            if not isinstance(value, str):
                self.bad(where, "must be a text")
        elif kind in PROCESS_STEPS:
            if value not in processes:
                self.bad(where, f"{value!r} is not a process of the topology; use one of {', '.join(processes)}")
        elif kind in BACKEND_TYPES:
            self.backend_step(kind, raw, step, where)
        elif kind in LINK_STEPS:
            links = zones + [b.name for b in self.backend_specs]
            if value not in links:
                self.bad(where, f"{value!r} is not a link of the topology; use one of {', '.join(links)} "
                                "(a zone's link to global, or the link to a backend)")
            if kind == "partition":
                mode = raw.get("mode", "drop")
                if mode not in ("drop", "reset"):
                    self.bad(f"{where}.mode", f"is {mode!r}; use drop (silent, the default) or reset")
                step.options["mode"] = mode
            if kind == "delay":
                if "latency" not in raw:
                    self.bad(f"{where}.latency", "is required, e.g. latency: 300ms")
                step.options["latency"] = self.duration(raw.get("latency"), f"{where}.latency", 0.0)
                step.options["jitter"] = self.duration(raw.get("jitter"), f"{where}.jitter", 0.0)
        elif kind in ("wait", "expect", "watch", "unwatch"):
            try:
                step.condition = parse_condition(value, processes)
            except ConditionError as e:
                self.bad(where, str(e))
            if kind == "wait":
                step.options["timeout"] = self.duration(raw.get("timeout"), f"{where}.timeout", DEFAULT_WAIT)
            else:
                if "within" in raw and "for" in raw:
                    self.bad(where, "use either within (becomes true in time) or for (stays true), not both")
                step.options["within"] = self.duration(raw.get("within"), f"{where}.within", 0.0)
                step.options["for"] = self.duration(raw.get("for"), f"{where}.for", 0.0)
        elif kind == "advance":
            step.target = self.duration(value, where, 0.0)
        elif kind == "burst":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10_000:
                self.bad(where, f"must be the number of meshes to apply (1 to 10000), got {value!r}")
            prefix = raw.get("prefix", "burst")
            if not isinstance(prefix, str) or not NAME_RE.match(prefix + "-1"):
                self.bad(f"{where}.prefix", "must make DNS labels with -N appended, e.g. burst")
            conc = raw.get("concurrency", 4)
            if not isinstance(conc, int) or isinstance(conc, bool) or not 1 <= conc <= 32:
                self.bad(f"{where}.concurrency", f"must be a whole number from 1 to 32, got {conc!r}")
            step.options = {"prefix": prefix, "concurrency": conc}
        elif kind == "apply":
            step.raw = value
            step.target = self.resource(value, where)
            outcome = raw.get("outcome", "accepted")
            if outcome not in ("accepted", "rejected"):
                self.bad(f"{where}.outcome", f"is {outcome!r}; use accepted or rejected")
            for k in ("field", "message", "warning"):
                if k in raw and not isinstance(raw[k], str):
                    self.bad(f"{where}.{k}", "must be a text")
            if outcome == "accepted" and ("field" in raw or "message" in raw):
                self.bad(where, "field and message describe a rejection; add outcome: rejected")
            if outcome == "rejected" and "warning" in raw:
                self.bad(f"{where}.warning", "a rejected apply has no warnings; remove it or use outcome: accepted")
            step.options = {"outcome": outcome, "field": raw.get("field"), "message": raw.get("message"),
                            "warning": raw.get("warning")}
        elif kind == "delete":
            step.target = self.delete_target(value, where)
        elif kind == "register":
            step.target = self.registration(value, where, zones)
        return step

    def backend_step(self, kind: str, raw: dict, step: Step, where: str) -> None:
        actions = {"vault": VAULT_ACTIONS, "acmpca": ACMPCA_ACTIONS, "certmanager": CERTMANAGER_ACTIONS}[kind]
        if step.target not in actions:
            self.bad(where, f"is {step.target!r}; a {kind} step is one of {', '.join(actions)}")
        mine = [b.name for b in self.backend_specs if b.type == kind]
        backend = raw.get("backend", mine[0] if len(mine) == 1 else None)
        if backend not in mine:
            self.bad(f"{where}.backend", f"must name a {kind} backend of topology.backends "
                                         f"({', '.join(mine) or 'there is none'})")
        step.options["backend"] = backend
        if kind == "acmpca":
            count = raw.get("count", 1000)
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                self.bad(f"{where}.count", f"must be a whole number >= 1 (calls answered with the error), "
                                           f"got {count!r}")
            step.options.update(count=count if step.target != "clear" else 0,
                                target=str(raw.get("target", "ACMPrivateCA.IssueCertificate")),
                                status=raw.get("status"))
        if kind == "certmanager":
            step.options["reason"] = str(raw.get("reason", "denied by the scenario"))

    def delete_target(self, value, where: str) -> tuple[str, str] | None:
        words = value.split() if isinstance(value, str) else []
        if len(words) != 2 or words[0] not in ("mesh", "secret", "global-secret") or (
                words[0] == "secret" and words[1].count("/") != 1):
            self.bad(where, f"must be {DELETE_FORMS}, got {value!r}")
            return None
        return words[0], words[1]

    def registration(self, value, where: str, zones: list[str]) -> dict | None:
        if not isinstance(value, dict):
            self.bad(where, "must be a mapping: {zone, mesh, name, service, tags}")
            return None
        self.unknown(value, {"zone", "mesh", "name", "service", "tags"}, f"{where}.")
        if value.get("zone") not in zones:
            self.bad(f"{where}.zone", f"must be one of the topology's zones: {', '.join(zones)}")
        for k in ("name", "service"):
            if not isinstance(value.get(k), str) or not value.get(k):
                self.bad(f"{where}.{k}", "is required (a text)")
        tags = value.get("tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            self.bad(f"{where}.tags", "must be a mapping of tag names to text values")
            tags = {}
        return {"zone": value.get("zone"), "mesh": value.get("mesh") or "default", "name": value.get("name"),
                "service": value.get("service"), "tags": tags}
