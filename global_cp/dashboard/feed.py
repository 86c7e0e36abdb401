"""What the dashboard shows, computed once per tick for every viewer, and
sent as deltas: a viewer gets a snapshot when it connects, then only the rows
that changed (and one small frame per tick, which is how it knows global is
alive). Events (connects, disconnects, NACKs, applies, issue failures,
breakers) are derived here by comparing one tick's rows with the last's.

Everything a zone reported (its ZoneInsight) is untrusted: fields are coerced
to the types the page expects and strings are bounded."""
from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from common.resources import Resource
from common.store import Change, Store
from common.timefmt import parse_time

from ..config import DashboardConfig
from ..zones import ZoneRegistry

log = logging.getLogger("mzsim.global.dashboard")

MAX_TEXT = 300  # characters of any reported string shown on the page
MAX_MESHES_PER_ZONE = 200  # summaries read from one ZoneInsight
FRESH_HEARTBEAT = 2.0  # seconds: a heartbeat younger than this is shown as "just now" (and not resent)
QUEUE_FRAMES = 30  # frames queued for a slow viewer before it is dropped (it reconnects for a snapshot)

Row = dict[str, Any]


def _text(v: object) -> str:
    return str(v)[:MAX_TEXT] if v is not None else ""


def _int(v: object) -> int:
    try:
        return int(v)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return 0


def _epoch(v: object) -> float | None:
    if not isinstance(v, str) or not v:
        return None
    try:
        return parse_time(v[:40]).timestamp()
    except ValueError:
        return None


def zone_row(s: dict[str, Any], insight: dict[str, Any]) -> Row:
    acked, current = s.get("ackedVersion"), s.get("globalVersion")
    state = "disabled" if not s.get("enabled", True) else "online" if s.get("active") else "offline"
    return {
        "name": s["name"], "state": state, "env": s.get("environment") or _text(insight.get("environment")),
        "version": _text(insight.get("version")),
        "ackedVersion": acked, "globalVersion": current,
        "lag": (current - acked) if isinstance(acked, int) and isinstance(current, int) else None,
        "inSync": bool(s.get("inSync")) and state == "online",
        "nackCount": s.get("nackCount", 0), "lastNack": _text(s.get("lastNackError")),
        "rejected": len(s.get("rejected") or []),
        "refused": refused_meshes(s.get("rejected") or []),
        "disconnectReason": _text(s.get("disconnectReason")) if state != "online" else "",
        "connectTime": _epoch(s.get("connectTime")), "disconnectTime": _epoch(s.get("disconnectTime")),
        "dataplanes": s.get("dataplanes", 0),
    }


def refused_meshes(rejected: list[str]) -> dict[str, str]:
    """The meshes the zone refuses (a partial NACK), with why: 'Mesh NAME: why' entries."""
    out: dict[str, str] = {}
    for reason in rejected[:MAX_MESHES_PER_ZONE]:
        label, _, why = str(reason).partition(": ")
        if label.startswith("Mesh ") and "/" not in label:
            out[label[5:][:253]] = _text(why)
    return out


def cells_of(zone: str, insight: dict[str, Any]) -> Iterator[Row]:
    meshes = insight.get("meshSummaries")
    if not isinstance(meshes, list):
        return
    for m in meshes[:MAX_MESHES_PER_ZONE]:
        if not isinstance(m, dict) or not isinstance(m.get("mesh"), str):
            continue
        yield {
            "zone": zone, "mesh": m["mesh"][:253], "backend": _text(m.get("backend")),
            "backendType": _text(m.get("backendType")), "proxies": _int(m.get("proxies")),
            "valid": _int(m.get("valid")), "failing": _int(m.get("failing")),
            "expiringSoon": _int(m.get("expiringSoon")), "rotated": _int(m.get("rotated")),
            "earliestExpiry": _epoch(m.get("earliestExpiry")), "nextRotation": _epoch(m.get("nextRotation")),
            "lifetime": _int(m.get("earliestExpiryLifetimeSeconds")) or None,
            "breaker": _text(m.get("breaker")) or "closed", "breakerOpenUntil": _epoch(m.get("breakerOpenUntil")),
            "lastError": _text(m.get("lastError")), "lastErrorTime": _epoch(m.get("lastErrorTime")),
        }


def mesh_rows(meshes: list[Resource], cells: dict[str, Row]) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for m in meshes:
        mtls = m.spec.get("mtls") or {}
        enabled = mtls.get("enabledBackend") or ""
        btype = next((b.get("type", "") for b in mtls.get("backends") or [] if b.get("name") == enabled), "")
        out[m.name] = {"name": m.name, "backend": enabled, "backendType": btype, "version": m.meta.get("version"),
                       "zones": 0, "proxies": 0, "valid": 0, "failing": 0, "expiringSoon": 0, "rotated": 0,
                       "earliestExpiry": None, "nextRotation": None, "lifetime": None, "breakersOpen": 0}
    for c in cells.values():
        row = out.get(c["mesh"])
        if row is None:
            continue
        row["zones"] += 1
        for k in ("proxies", "valid", "failing", "expiringSoon", "rotated"):
            row[k] += c[k]
        row["breakersOpen"] += c["breaker"] != "closed"
        if c["earliestExpiry"] and (row["earliestExpiry"] is None or c["earliestExpiry"] < row["earliestExpiry"]):
            row["earliestExpiry"], row["lifetime"] = c["earliestExpiry"], c["lifetime"]
        if c["nextRotation"] and (row["nextRotation"] is None or c["nextRotation"] < row["nextRotation"]):
            row["nextRotation"] = c["nextRotation"]
    return out


class Events:
    """A bounded history of what happened, newest last."""

    def __init__(self, limit: int) -> None:
        self.items: collections.deque[Row] = collections.deque(maxlen=max(1, limit))
        self.seq = 0

    def add(self, kind: str, text: str, *, zone: str = "", mesh: str = "", level: str = "info",
            at: float | None = None) -> Row:
        self.seq += 1
        ev = {"seq": self.seq, "time": at or time.time(), "kind": kind, "level": level, "zone": zone,
              "mesh": mesh, "text": text[:2 * MAX_TEXT]}
        self.items.append(ev)
        return ev


def derive_events(events: Events, old_zones: dict[str, Row], zones: dict[str, Row], old_cells: dict[str, Row],
                  cells: dict[str, Row], old_meshes: dict[str, Row], meshes: dict[str, Row]) -> list[Row]:
    out: list[Row] = []
    for name, z in zones.items():
        before = old_zones.get(name)
        if before is None or before["state"] != z["state"]:
            if z["state"] == "online":
                out.append(events.add("connect", f"zone {name} connected ({z['env'] or 'universal'})", zone=name))
            elif before is not None:
                why = f": {z['disconnectReason']}" if z["disconnectReason"] else ""
                out.append(events.add("disconnect", f"zone {name} went {z['state']}{why}", zone=name,
                                      level="error"))
        if before is not None and z["nackCount"] > before["nackCount"]:
            out.append(events.add("nack", f"zone {name} NACKed version {z['ackedVersion']}: {z['lastNack']}",
                                  zone=name, level="error"))
    for name, m in meshes.items():
        before = old_meshes.get(name)
        if before is None or before["version"] != m["version"]:
            verb = "created" if before is None else "updated"
            out.append(events.add("apply", f"mesh {name} {verb} (version {m['version']}, backend "
                                           f"{m['backend'] or 'none'})", mesh=name))
    for name in old_meshes.keys() - meshes.keys():
        out.append(events.add("apply", f"mesh {name} deleted", mesh=name))
    for key, c in cells.items():
        before = old_cells.get(key) or {"failing": 0, "breaker": "closed"}
        where = f"zone {c['zone']} mesh {c['mesh']} backend {c['backend']}"
        if c["failing"] and not before["failing"]:
            out.append(events.add("issue-failure", f"{where}: {c['failing']} proxies failing: {c['lastError']}",
                                  zone=c["zone"], mesh=c["mesh"], level="error"))
        elif before["failing"] and not c["failing"]:
            out.append(events.add("issue-recovered", f"{where}: issuing again", zone=c["zone"], mesh=c["mesh"]))
        if (c["breaker"] == "open") != (before["breaker"] == "open"):
            opened = c["breaker"] == "open"
            out.append(events.add("breaker-open" if opened else "breaker-closed",
                                  f"{where}: breaker {'opened' if opened else c['breaker']}"
                                  + (f": {c['lastError']}" if opened and c["lastError"] else ""),
                                  zone=c["zone"], mesh=c["mesh"], level="error" if opened else "info"))
    return out


def _diff(old: dict[str, Row], new: dict[str, Row]) -> dict[str, Any] | None:
    upsert = [row for k, row in new.items() if old.get(k) != row]
    remove = [k for k in old if k not in new]
    return {"upsert": upsert, "remove": remove} if upsert or remove else None


class Feed:
    """Ticks every push_interval while global runs (events need history), and
    fans each tick's delta out to the connected viewers."""

    def __init__(self, config: DashboardConfig, zones: ZoneRegistry, config_store: Store, zone_store: Store) -> None:
        self.config = config
        self.zones, self.config_store, self.zone_store = zones, config_store, zone_store
        self.events = Events(config.max_events)
        self.zone_rows: dict[str, Row] = {}
        self.cells: dict[str, Row] = {}
        self.meshes: dict[str, Row] = {}
        self.heartbeats: dict[str, float] = {}
        self._insights: dict[str, dict[str, Any]] = {}
        self._zone_cells: dict[str, list[Row]] = {}  # parsed once per insight change, not once per tick
        self._dirty: set[str] | None = None  # None: read every ZoneInsight
        self._dirty_lock = threading.Lock()
        self._viewers: set[asyncio.Queue[str]] = set()
        self._task: asyncio.Task[None] | None = None
        self._primed = False
        self.ticks = 0
        zone_store.add_listener(self._on_zone_change)

    def _on_zone_change(self, changes: list[Change]) -> None:  # the store's writer thread
        names = {c.name for c in changes if c.kind == "ZoneInsight"}
        if names:
            with self._dirty_lock:
                if self._dirty is not None:
                    self._dirty |= names

    def _read_insights(self) -> None:
        with self._dirty_lock:
            dirty, self._dirty = self._dirty, set()
        if dirty is None:
            self._insights = {r.name: r.spec for r in self.zone_store.list("ZoneInsight")}
            self._zone_cells = {name: list(cells_of(name, spec)) for name, spec in self._insights.items()}
            return
        for name in dirty:
            r = self.zone_store.get("ZoneInsight", name)
            if r is None:
                self._insights.pop(name, None)
                self._zone_cells.pop(name, None)
            else:
                self._insights[name] = r.spec
                self._zone_cells[name] = list(cells_of(name, r.spec))

    # -- one tick ------------------------------------------------------------------
    def tick(self) -> dict[str, Any]:
        """Recompute every row; return the delta frame (events included)."""
        self._read_insights()
        statuses = self.zones.statuses()
        zones: dict[str, Row] = {}
        cells: dict[str, Row] = {}
        heartbeats: dict[str, float] = {}
        now = time.time()
        for s in statuses:
            insight = self._insights.get(s["name"]) or {}
            zones[s["name"]] = zone_row(s, insight)
            hb = _epoch(s.get("lastHeartbeat"))
            heartbeats[s["name"]] = 0.0 if hb is None or (s.get("active") and now - hb < FRESH_HEARTBEAT) else hb
            for c in self._zone_cells.get(s["name"], ()):
                cells[f"{c['zone']}/{c['mesh']}"] = c
        meshes = mesh_rows(self.config_store.list("Mesh"), cells)
        new_events = (derive_events(self.events, self.zone_rows, zones, self.cells, cells, self.meshes, meshes)
                      if self._primed else [])
        frame: dict[str, Any] = {"type": "delta", "now": now}
        for key, old, new in (("zones", self.zone_rows, zones), ("cells", self.cells, cells),
                              ("meshes", self.meshes, meshes)):
            d = _diff(old, new)
            if d:
                frame[key] = d
        hb_changed = {k: v for k, v in heartbeats.items() if self.heartbeats.get(k) != v}
        if hb_changed:
            frame["heartbeats"] = hb_changed
        if new_events:
            frame["events"] = new_events
        self.zone_rows, self.cells, self.meshes, self.heartbeats = zones, cells, meshes, heartbeats
        self._primed = True
        self.ticks += 1
        return frame

    def snapshot(self) -> dict[str, Any]:
        return {"type": "snapshot", "now": time.time(), "pushInterval": self.config.push_interval,
                "staleAfter": self.config.stale_after, "zones": list(self.zone_rows.values()),
                "cells": list(self.cells.values()), "meshes": list(self.meshes.values()),
                "heartbeats": self.heartbeats, "events": list(self.events.items)}

    # -- fan-out ---------------------------------------------------------------------
    def publish(self, frame: dict[str, Any]) -> None:
        if not self._viewers:
            return
        data = sse(frame)
        for q in list(self._viewers):
            if q.qsize() >= QUEUE_FRAMES:  # a viewer that cannot keep up: drop it, it reconnects
                self._viewers.discard(q)
                q.put_nowait("")
            else:
                q.put_nowait(data)

    def publish_end(self) -> None:
        for q in list(self._viewers):
            q.put_nowait("")
        self._viewers.clear()

    @contextlib.contextmanager
    def viewer(self) -> Iterator[asyncio.Queue[str]]:
        q: asyncio.Queue[str] = asyncio.Queue()
        q.put_nowait(sse(self.snapshot()))
        self._viewers.add(q)
        try:
            yield q
        finally:
            self._viewers.discard(q)

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    async def run(self) -> None:
        while True:
            try:
                self.publish(self.tick())
            except Exception:  # noqa: BLE001 - the page must outlive a bad row; log why
                log.exception("dashboard: cannot compute a tick")
            await asyncio.sleep(self.config.push_interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="dashboard-feed")

    async def stop(self) -> None:
        self.zone_store.remove_listener(self._on_zone_change)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def sse(frame: dict[str, Any]) -> str:
    return f"data: {json.dumps(frame, separators=(',', ':'))}\n\n"
