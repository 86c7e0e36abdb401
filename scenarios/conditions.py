"""The condition vocabulary of scenario `wait` and `expect` steps.

A condition is one line of words (quote text with spaces), parsed when the
scenario file is loaded and evaluated against the processes' real HTTP APIs:

    global up | global down
    zone Z up | down | active | offline | in_sync | connected | disconnected | unregistered
    zone Z error contains "TEXT"        zone Z nack_error contains "TEXT"
    zone Z nacks OP N                   zone Z deletions OP N
    mesh M on global | on zone Z | on all zones
    mesh M absent from global | absent from zone Z | absent from all zones
    mesh M same on zone Z | same on all zones
    dataplanes certified|rotated|failing OP N [in zone Z] [mesh M]
    identity Z MESH/DATAPLANE valid
    insight PATH OP VALUE
    log PROCESS contains "TEXT"
    no expired certificate in mesh M
    mesh M certified by BACKEND
    peers trust each other in mesh M
    breaker BACKEND in zone Z is closed|open|half-open
    issuance resumed in mesh M
    zone Z issuance COUNTER OP N

OP is one of == != >= <= > <. See docs/scenarios.md for what each one reads."""
from __future__ import annotations

import datetime as dt
import operator
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from common.timefmt import parse_time
from common.x509util import verify_chain

OPS: dict[str, Callable] = {"==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le,
                            ">": operator.gt, "<": operator.lt}
ZONE_STATES = ("up", "down", "active", "offline", "in_sync", "connected", "disconnected", "unregistered")
DP_MEASURES = ("certified", "rotated", "failing")
FAILING = ("error", "backoff", "breaker-open")

FORMS = [
    "global up|down",
    "zone Z " + "|".join(ZONE_STATES),
    'zone Z error contains "TEXT"',
    'zone Z nack_error contains "TEXT"',
    "zone Z nacks OP N",
    "zone Z deletions OP N",
    "mesh M on global | on zone Z | on all zones",
    "mesh M absent from global | absent from zone Z | absent from all zones",
    "mesh M same on zone Z | same on all zones",
    "dataplanes certified|rotated|failing OP N [in zone Z] [mesh M]",
    "identity Z MESH/DATAPLANE valid",
    "insight PATH OP VALUE",
    'log PROCESS contains "TEXT"',
    "no expired certificate in mesh M",
    "mesh M certified by BACKEND",
    "peers trust each other in mesh M",
    "breaker BACKEND in zone Z is closed|open|half-open",
    "issuance resumed in mesh M",
    "zone Z issuance COUNTER OP N",
    "zones active|in_sync OP N",
    "burst done",
    "acknowledged meshes on global | on all zones",
]
BREAKER_STATES = ("closed", "open", "half-open")


class ConditionError(ValueError):
    pass


class Probe(Protocol):
    """What conditions read; the runner's cluster provides it."""

    def global_get(self, path: str) -> Awaitable[tuple[int | None, object]]: ...
    def zone_get(self, zone: str, path: str) -> Awaitable[tuple[int | None, object]]: ...
    def running_zones(self) -> list[str]: ...
    def log_text(self, process: str) -> str: ...
    @property
    def last_heal(self) -> float | None: ...
    def burst_state(self) -> tuple[bool, list[str], list[str]]: ...


@dataclass
class Outcome:
    ok: bool
    seen: str  # what was observed, for progress and failure messages


@dataclass
class Condition:
    text: str
    check: Callable[[Probe], Awaitable[Outcome]]

    async def evaluate(self, probe: Probe) -> Outcome:
        try:
            return await self.check(probe)
        except (TypeError, ValueError, KeyError) as e:  # an API answered something unexpected
            return Outcome(False, f"cannot evaluate: {type(e).__name__}: {e}")


# -- parsing -------------------------------------------------------------------
def parse(text: str, processes: list[str]) -> Condition:
    """`processes` are "global" and the zone names; conditions naming others are refused."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError("must be a condition, e.g. 'zone zone-1 active'; forms: " + "; ".join(FORMS))
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise ConditionError(f"{text!r}: {e} (check the quotes)") from None
    zones = [p for p in processes if p != "global"]
    head = words[0]
    parsers = {"global": _global, "zone": _zone, "mesh": _mesh, "dataplanes": _dataplanes,
               "identity": _identity, "insight": _insight, "log": _log, "no": _no_expired,
               "peers": _peers, "breaker": _breaker, "issuance": _resumed, "zones": _zones_count,
               "burst": _burst_done, "acknowledged": _acknowledged}
    if head not in parsers:
        raise ConditionError(f"{text!r}: unknown subject {head!r}; a condition starts with one of "
                             f"{', '.join(parsers)}. Forms: " + "; ".join(FORMS))
    check = parsers[head](words, text, zones, processes)
    return Condition(text, check)


def _bad(text: str, head: str) -> ConditionError:
    forms = "; ".join(f for f in FORMS if f.startswith(head + " "))
    return ConditionError(f"{text!r} does not match: {forms}")


def _zone_name(name: str, zones: list[str], text: str) -> str:
    if name not in zones:
        raise ConditionError(f"{text!r}: zone {name!r} is not in the topology (zones: {', '.join(zones) or 'none'})")
    return name


def _op(word: str, text: str) -> Callable:
    if word not in OPS:
        raise ConditionError(f"{text!r}: {word!r} is not an operator; use one of {' '.join(OPS)}")
    return OPS[word]


def _int(word: str, text: str) -> int:
    try:
        return int(word)
    except ValueError:
        raise ConditionError(f"{text!r}: {word!r} is not a whole number") from None


def _global(words, text, zones, processes):
    if len(words) != 2 or words[1] not in ("up", "down"):
        raise _bad(text, "global")
    want_up = words[1] == "up"

    async def check(p: Probe) -> Outcome:
        status, _ = await p.global_get("/")
        up = status == 200
        return Outcome(up == want_up, "global API answers" if up else "global API does not answer")
    return check


def _zone(words, text, zones, processes):
    if len(words) < 3:
        raise _bad(text, "zone")
    zone = _zone_name(words[1], zones, text)
    what = words[2]
    if what in ZONE_STATES and len(words) == 3:
        return _zone_state(zone, what)
    if what in ("error", "nack_error") and len(words) == 5 and words[3] == "contains":
        return _zone_text(zone, what, words[4])
    if what == "nacks" and len(words) == 5:
        return _zone_nacks(zone, _op(words[3], text), _int(words[4], text), words[3])
    if what == "deletions" and len(words) == 5:
        return _zone_deletions(zone, _op(words[3], text), _int(words[4], text), words[3])
    if what == "issuance" and len(words) == 6:
        return _zone_counter(zone, words[3], _op(words[4], text), _int(words[5], text), words[4])
    raise _bad(text, "zone")


def _zone_counter(zone: str, counter: str, op: Callable, n: int, op_text: str):
    """A counter of the zone's issuance engine, from its /status."""
    async def check(p: Probe) -> Outcome:
        status, body = await p.zone_get(zone, "/status")
        if status != 200:
            return Outcome(False, f"{zone} API does not answer")
        stats = body.get("issuance") or {}
        if counter not in stats or not isinstance(stats[counter], int):
            names = ", ".join(k for k, v in stats.items() if isinstance(v, int))
            return Outcome(False, f"{zone} has no issuance counter {counter!r} (counters: {names})")
        return Outcome(op(stats[counter], n), f"{zone} issuance {counter}={stats[counter]} (want {op_text} {n})")
    return check


async def _global_entry(p: Probe, zone: str) -> tuple[dict | None, str]:
    """(global's /status/zones entry for the zone, or None and why)."""
    status, body = await p.global_get("/status/zones")
    if status != 200:
        return None, "global's /status/zones does not answer"
    entry = next((z for z in body if z.get("name") == zone), None)
    return entry, ("" if entry else "unregistered")


def _zone_state(zone: str, state: str):
    async def check(p: Probe) -> Outcome:
        if state in ("up", "down", "connected", "disconnected"):
            status, body = await p.zone_get(zone, "/status")
            up = status == 200
            if state in ("up", "down"):
                return Outcome(up == (state == "up"), f"{zone} API {'answers' if up else 'does not answer'}")
            if not up:
                return Outcome(False, f"{zone} API does not answer")
            connected = bool(body.get("connected"))
            err = body.get("lastError") or ""
            seen = f"{zone} connected={connected}" + (f", last error: {err}" if err else "")
            return Outcome(connected == (state == "connected"), seen)
        entry, why = await _global_entry(p, zone)
        if state == "unregistered":
            return Outcome(why == "unregistered", f"global has no entry for {zone}" if why == "unregistered"
                           else why or f"global lists {zone} (active={entry['active']})")
        if entry is None:
            return Outcome(False, why if why != "unregistered" else f"global has no entry for {zone}")
        seen = (f"global: active={entry['active']} inSync={entry['inSync']} acked={entry['ackedVersion']} "
                f"version={entry['globalVersion']} lastHeartbeat={entry.get('lastHeartbeat')}")
        ok = {"active": entry["active"], "offline": not entry["active"],
              "in_sync": entry["active"] and entry["inSync"]}[state]
        return Outcome(bool(ok), seen)
    return check


def _zone_text(zone: str, what: str, needle: str):
    async def check(p: Probe) -> Outcome:
        if what == "error":
            status, body = await p.zone_get(zone, "/status")
            if status != 200:
                return Outcome(False, f"{zone} API does not answer")
            got = body.get("lastError") or ""
        else:
            entry, why = await _global_entry(p, zone)
            if entry is None:
                return Outcome(False, f"global: {why}")
            got = entry.get("lastNackError") or ""
        return Outcome(needle in got, f"{what}: {got!r}")
    return check


def _zone_nacks(zone: str, op: Callable, n: int, op_text: str):
    async def check(p: Probe) -> Outcome:
        entry, why = await _global_entry(p, zone)
        if entry is None:
            return Outcome(False, f"global: {why}")
        return Outcome(op(entry["nackCount"], n), f"nackCount={entry['nackCount']} (want {op_text} {n})")
    return check


def _zone_deletions(zone: str, op: Callable, n: int, op_text: str):
    """Deletions the zone applied from global since it started (a transient delete shows here)."""
    async def check(p: Probe) -> Outcome:
        status, body = await p.zone_get(zone, "/status")
        if status != 200:
            return Outcome(False, f"{zone} API does not answer")
        removed = (body.get("kds") or {}).get("removedByGlobal") or {}
        total = sum(removed.values())
        detail = f" {removed}" if removed else ""
        return Outcome(op(total, n), f"{zone} deletions from global: {total}{detail} (want {op_text} {n})")
    return check


def _mesh(words, text, zones, processes):
    if len(words) < 4:
        raise _bad(text, "mesh")
    mesh, verb, rest = words[1], words[2], words[3:]
    if verb == "certified":
        if len(rest) != 2 or rest[0] != "by":
            raise _bad(text, "mesh")
        return _certified_by(mesh, rest[1])
    if verb == "absent":
        if not rest or rest[0] != "from":
            raise _bad(text, "mesh")
        rest = rest[1:]
    elif verb not in ("on", "same"):
        raise _bad(text, "mesh")
    if verb == "same" and rest[:1] == ["on"]:
        rest = rest[1:]
    if rest == ["global"] and verb != "same":
        where = None
    elif rest == ["all", "zones"]:
        where = "all"
    elif len(rest) == 2 and rest[0] == "zone":
        where = _zone_name(rest[1], zones, text)
    else:
        raise _bad(text, "mesh")
    return _mesh_check(mesh, verb, where)


def _mesh_check(mesh: str, verb: str, where: str | None):
    async def one(p: Probe, zone: str | None, reference: dict | None) -> tuple[bool, str]:
        get = p.global_get if zone is None else (lambda path: p.zone_get(zone, path))
        label = zone or "global"
        status, body = await get(f"/meshes/{mesh}")
        if status not in (200, 404):
            return False, f"{label} API does not answer"
        present = status == 200
        if verb == "on":
            return present, f"{label}: {'has' if present else 'no'} mesh {mesh}"
        if verb == "absent":
            return not present, f"{label}: {'has' if present else 'no'} mesh {mesh}"
        if not present:
            return False, f"{label}: no mesh {mesh}"
        same = _spec(body) == reference
        return same, f"{label}: mesh {mesh} {'matches' if same else 'differs from'} global's"

    async def check(p: Probe) -> Outcome:
        reference = None
        if verb == "same":
            status, body = await p.global_get(f"/meshes/{mesh}")
            if status != 200:
                return Outcome(False, f"global: no mesh {mesh} to compare with (HTTP {status})")
            reference = _spec(body)
        targets = [where] if where != "all" else p.running_zones()
        if where == "all" and not targets:
            return Outcome(False, "no zone is running")
        results = [await one(p, t, reference) for t in targets]
        return Outcome(all(ok for ok, _ in results), "; ".join(seen for _, seen in results))
    return check


def _spec(body: dict) -> dict:
    """A resource as the API shows it, without the fields that differ by store."""
    return {k: v for k, v in body.items() if k not in ("creationTime", "modificationTime", "version")}


def _dataplanes(words, text, zones, processes):
    if len(words) < 4 or words[1] not in DP_MEASURES:
        raise _bad(text, words[0])
    measure, op, n = words[1], _op(words[2], text), _int(words[3], text)
    rest, zone, mesh = words[4:], None, None
    while rest:
        if rest[:2] == ["in", "zone"] and len(rest) >= 3 and zone is None:
            zone, rest = _zone_name(rest[2], zones, text), rest[3:]
        elif rest[0] == "mesh" and len(rest) >= 2 and mesh is None:
            mesh, rest = rest[1], rest[2:]
        else:
            raise _bad(text, words[0])

    async def check(p: Probe) -> Outcome:
        targets = [zone] if zone else p.running_zones()
        total, notes = 0, []
        for z in targets:
            count, note = await _count_dataplanes(p, z, mesh, measure)
            total += count
            if note:
                notes.append(note)
        seen = f"{measure} dataplanes: {total} (want {words[2]} {n})" + (f"; {'; '.join(notes)}" if notes else "")
        return Outcome(op(total, n), seen)
    return check


async def _count_dataplanes(p: Probe, zone: str, mesh: str | None, measure: str) -> tuple[int, str]:
    """Counted from the zone's own API: the zone is the truth, reachable even when global is down."""
    if mesh is None:
        status, body = await p.zone_get(zone, "/meshes")
        if status != 200:
            return 0, f"{zone} API does not answer"
        meshes = [m["name"] for m in body["items"]]
    else:
        meshes = [mesh]
    now = dt.datetime.now(dt.UTC)
    count, why = 0, ""  # why: the first failing dataplane and its last error
    for m in meshes:
        status, body = await p.zone_get(zone, f"/meshes/{m}/dataplanes/_overview")
        if status != 200:
            return count, f"{zone} API does not answer"
        for item in body["items"]:
            mtls = (item.get("dataplaneInsight") or {}).get("mTLS") or {}
            if measure == "certified":
                expiry = mtls.get("certificateExpirationTime")
                count += bool(mtls.get("serial") and expiry and parse_time(expiry) > now)
            elif measure == "rotated":
                count += int(mtls.get("certificateRegenerations") or 0) >= 2
            elif mtls.get("status") in FAILING:
                count += 1
                if not why:
                    why = f"{zone} {m}/{item.get('name')}: {mtls.get('status')}: {(mtls.get('lastError') or '')[:200]}"
    return count, why



def _identity(words, text, zones, processes):
    if len(words) != 4 or words[3] != "valid" or words[2].count("/") != 1:
        raise _bad(text, words[0])
    zone = _zone_name(words[1], zones, text)
    mesh, dp = words[2].split("/")

    async def check(p: Probe) -> Outcome:
        status, body = await p.zone_get(zone, f"/meshes/{mesh}/dataplanes/{dp}/identity")
        if status != 200:
            detail = body.get("details") if isinstance(body, dict) else body
            return Outcome(False, f"{zone}: no identity for {mesh}/{dp} (HTTP {status}: {detail})")
        try:
            verify_chain(body["certificate"], body["caCertificates"])
        except Exception as e:  # noqa: BLE001 - any verification failure is the observation
            return Outcome(False, f"{zone}: {mesh}/{dp} certificate does not verify: {e}")
        return Outcome(True, f"{zone}: {mesh}/{dp} serial {body['serial'][:12]}… valid until {body['notAfter']}")
    return check


def _insight(words, text, zones, processes):
    if len(words) != 4:
        raise _bad(text, "insight")
    path, op, want = words[1], _op(words[2], text), words[3]

    async def check(p: Probe) -> Outcome:
        status, body = await p.global_get("/global-insight")
        if status != 200:
            return Outcome(False, "global's /global-insight does not answer")
        value = body
        for key in path.split("."):
            if not isinstance(value, dict) or key not in value:
                return Outcome(False, f"/global-insight has no {path!r} (fields: {', '.join(body)})")
            value = value[key]
        return Outcome(op(value, _like(want, value)), f"insight {path}={value!r} (want {words[2]} {want})")
    return check


def _like(word: str, value):
    """The expected value, as the observed value's type."""
    if isinstance(value, bool):
        return word.lower() == "true"
    if isinstance(value, (int, float)):
        try:
            return type(value)(word)
        except ValueError:
            return word
    return word


def _log(words, text, zones, processes):
    if len(words) != 4 or words[2] != "contains":
        raise _bad(text, "log")
    proc = words[1]
    if proc not in processes:
        raise ConditionError(f"{text!r}: process {proc!r} is not in the topology (processes: {', '.join(processes)})")
    needle = words[3]

    async def check(p: Probe) -> Outcome:
        found = needle in p.log_text(proc)
        return Outcome(found, f"{proc} log {'contains' if found else 'does not contain'} {needle!r}")
    return check


# -- certificates across the mesh ------------------------------------------------
async def _mesh_dataplanes(p: Probe, mesh: str) -> tuple[list[tuple[str, dict]], list[str]]:
    """([(zone, overview item)] of mesh M in every running zone, [zones that did not answer])."""
    items, silent = [], []
    for z in p.running_zones():
        status, body = await p.zone_get(z, f"/meshes/{mesh}/dataplanes/_overview")
        if status == 404:
            continue  # the mesh is not (yet) on this zone
        if status != 200:
            silent.append(z)
            continue
        items += [(z, item) for item in body["items"]]
    return items, silent


def _mtls(item: dict) -> dict:
    return (item.get("dataplaneInsight") or {}).get("mTLS") or {}


def _name(item: dict) -> str:
    return item.get("name") or (item.get("dataplane") or {}).get("name") or "?"


def _no_expired(words, text, zones, processes):
    if len(words) != 6 or words[1:5] != ["expired", "certificate", "in", "mesh"]:
        raise _bad(text, "no")
    mesh = words[5]

    async def check(p: Probe) -> Outcome:
        items, silent = await _mesh_dataplanes(p, mesh)
        now = dt.datetime.now(dt.UTC)
        expired = []
        for z, item in items:
            expiry = _mtls(item).get("certificateExpirationTime")
            if expiry and parse_time(expiry) <= now:
                ago = (now - parse_time(expiry)).total_seconds()
                expired.append(f"{z} {mesh}/{_name(item)} certificate expired at {expiry} ({ago:.1f}s ago, "
                               f"status {_mtls(item).get('status')}, last error: "
                               f"{_mtls(item).get('lastError') or 'none'})")
        note = f"; not answering: {', '.join(silent)}" if silent else ""
        if expired:
            return Outcome(False, f"{len(expired)} expired: " + "; ".join(expired[:3]) + note)
        with_cert = sum(1 for _, i in items if _mtls(i).get("certificateExpirationTime"))
        return Outcome(True, f"no expired certificate among {len(items)} dataplanes of {mesh} "
                             f"({with_cert} hold one){note}")
    return check


def _certified_by(mesh: str, backend: str):
    async def check(p: Probe) -> Outcome:
        items, silent = await _mesh_dataplanes(p, mesh)
        if not items:
            return Outcome(False, f"no dataplane of mesh {mesh} in any running zone")
        now = dt.datetime.now(dt.UTC)
        others = []
        for z, item in items:
            m = _mtls(item)
            expiry = m.get("certificateExpirationTime")
            if m.get("issuedBackend") != backend or not expiry or parse_time(expiry) <= now:
                others.append(f"{z} {mesh}/{_name(item)}: " + (f"from {m.get('issuedBackend')}"
                              if m.get("issuedBackend") else f"none ({m.get('status')})"))
        if others:
            return Outcome(False, f"{len(others)} of {len(items)} not certified by {backend}: "
                                  + "; ".join(others[:5]))
        return Outcome(True, f"all {len(items)} dataplanes of {mesh} hold a valid certificate from {backend}")
    return check


def _peers(words, text, zones, processes):
    if len(words) != 7 or words[1:6] != ["trust", "each", "other", "in", "mesh"]:
        raise _bad(text, "peers")
    mesh = words[6]

    async def check(p: Probe) -> Outcome:
        items, silent = await _mesh_dataplanes(p, mesh)
        ids = []
        for z, item in items:
            status, body = await p.zone_get(z, f"/meshes/{mesh}/dataplanes/{_name(item)}/identity")
            if status != 200:
                return Outcome(False, f"{z} {mesh}/{_name(item)} has no identity (HTTP {status})")
            ids.append((f"{z}/{_name(item)}", body))
        if len(ids) < 2:
            return Outcome(False, f"{len(ids)} dataplane(s) of {mesh} with an identity: no pair to check")
        for a_name, a in ids:  # a verifies b's certificate against the bundle a would use
            for b_name, b in ids:
                if a_name == b_name:
                    continue
                try:
                    verify_chain(b["certificate"], a["caCertificates"])
                except Exception as e:  # noqa: BLE001 - the failed verification is what was seen
                    return Outcome(False, f"{a_name} does not trust {b_name} (certificate from {b.get('backend')}, "
                                          f"bundle of {a_name} from {a.get('backend')}): {e}")
        pairs = len(ids) * (len(ids) - 1)
        return Outcome(True, f"{pairs} ordered pairs of {len(ids)} dataplanes of {mesh} verify")
    return check


def _breaker(words, text, zones, processes):
    if len(words) != 7 or words[2:4] != ["in", "zone"] or words[5] != "is" or words[6] not in BREAKER_STATES:
        raise _bad(text, "breaker")
    backend, zone, want = words[1], _zone_name(words[4], zones, text), words[6]

    async def check(p: Probe) -> Outcome:
        status, body = await p.zone_get(zone, "/status")
        if status != 200:
            return Outcome(False, f"{zone} API does not answer")
        pools = [b for b in (body.get("issuance") or {}).get("backends") or [] if b.get("backend") == backend]
        if not pools:
            return Outcome(False, f"{zone} has no issuance for backend {backend}")
        states = {f"{b['mesh']}/{b['backend']}": b["breaker"] for b in pools}
        seen = ", ".join(f"{k} {v} (opened {b.get('timesOpened')}x, failing {b.get('failingProxies')}, "
                         f"last error: {b.get('lastError') or 'none'})" for (k, v), b in zip(states.items(), pools,
                                                                                         strict=True))
        return Outcome(any(v == want for v in states.values()), f"{zone}: breaker {seen}")
    return check


def _resumed(words, text, zones, processes):
    if len(words) != 5 or words[1:4] != ["resumed", "in", "mesh"]:
        raise _bad(text, "issuance")
    mesh = words[4]

    async def check(p: Probe) -> Outcome:
        since = p.last_heal
        if since is None:
            return Outcome(False, "no heal, resume or start step has run yet")
        items, _ = await _mesh_dataplanes(p, mesh)
        fresh = [f"{z}/{_name(i)}" for z, i in items if _mtls(i).get("lastCertificateRegeneration")
                 and parse_time(_mtls(i)["lastCertificateRegeneration"]).timestamp() >= int(since)]  # 1s resolution
        ago = dt.datetime.now(dt.UTC).timestamp() - since
        return Outcome(bool(fresh), f"{len(fresh)} of {len(items)} dataplanes of {mesh} issued in the "
                                    f"{ago:.1f}s since the heal" + (f" (first: {fresh[0]})" if fresh else ""))
    return check


def _zones_count(words, text, zones, processes):
    if len(words) != 4 or words[1] not in ("active", "in_sync"):
        raise _bad(text, "zones")
    state, op, n = words[1], _op(words[2], text), _int(words[3], text)

    async def check(p: Probe) -> Outcome:
        status, body = await p.global_get("/status/zones")
        if status != 200:
            return Outcome(False, "global's /status/zones does not answer")
        count = sum(1 for z in body if z["active"] and (state == "active" or z["inSync"]))
        return Outcome(op(count, n), f"{count} of {len(body)} registered zones {state} (want {words[2]} {n})")
    return check


def _burst_done(words, text, zones, processes):
    if words != ["burst", "done"]:
        raise _bad(text, "burst")

    async def check(p: Probe) -> Outcome:
        done, acked, unacked = p.burst_state()
        return Outcome(done, f"burst {'done' if done else 'running'}: {len(acked)} acknowledged, "
                             f"{len(unacked)} not")
    return check


def _acknowledged(words, text, zones, processes):
    if words[1:4] not in (["meshes", "on", "global"], ["meshes", "on", "all"]) or \
            (words[3] == "all" and words[4:] != ["zones"]) or (words[3] == "global" and len(words) != 4):
        raise _bad(text, "acknowledged")
    on_global = words[3] == "global"

    async def check(p: Probe) -> Outcome:
        done, acked, _ = p.burst_state()
        if not done:
            return Outcome(False, f"the burst is still running ({len(acked)} acknowledged so far)")
        targets = [None] if on_global else p.running_zones()
        for z in targets:
            get = p.global_get if z is None else (lambda path, z=z: p.zone_get(z, path))
            status, body = await get("/meshes?size=10000")
            if status != 200:
                return Outcome(False, f"{z or 'global'} API does not answer")
            have = {m["name"] for m in body["items"]}
            missing = [m for m in acked if m not in have]
            if missing:
                return Outcome(False, f"{z or 'global'} lacks {len(missing)} of {len(acked)} acknowledged "
                                      f"meshes, e.g. {', '.join(missing[:5])}")
        where = "global" if on_global else f"{len(targets)} zones"
        return Outcome(True, f"all {len(acked)} acknowledged meshes on {where}")
    return check
