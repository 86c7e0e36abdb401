"""Global's view of its zones: live sessions, subscription history (Kuma's
ZoneInsight.subscriptions) and the status list behind /status/zones."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common.kds.protocol import SessionStatus
from common.resources import Resource
from common.store import Store
from common.timefmt import format_optional_time

MAX_SUBSCRIPTIONS = 10  # kept per zone, newest last

StatusSource = Callable[[], SessionStatus]  # a live session's status()


def iso(ts: float | None) -> str | None:
    return format_optional_time(ts, millis=True)


def wall(monotonic_ts: float) -> float:
    """A time.monotonic() reading as epoch seconds."""
    return time.time() - (time.monotonic() - monotonic_ts)


def session_stats(s: SessionStatus) -> dict[str, Any]:
    """A live session as Kuma's ZoneInsight subscription status."""
    return {
        "lastHeartbeat": iso(wall(s.last_received)),
        "ackedVersion": s.acked_version,
        "inFlight": s.in_flight,
        "nackCount": s.nacks,
        "lastNackError": s.last_nack,
        "rejected": sorted(s.rejected.values()),
        "protocolErrors": s.protocol_errors,
        "lastProtocolError": s.last_protocol_error,
        "total": {
            "responsesSent": sum(v.sent for v in s.stats.values()),
            "responsesAcknowledged": sum(v.acked for v in s.stats.values()),
            "responsesRejected": sum(v.rejected for v in s.stats.values()),
        },
        "stat": {k: {"responsesSent": v.sent, "responsesAcknowledged": v.acked,
                     "responsesRejected": v.rejected} for k, v in sorted(s.stats.items())},
        "upstream": {"batchesApplied": s.batches_applied, "lastError": s.last_receive_error},
    }


@dataclass
class Subscription:
    id: str
    zone_instance: str
    global_instance: str
    connect_time: float
    disconnect_time: float | None = None
    disconnect_reason: str = ""
    environment: str = ""
    live: StatusSource | None = field(default=None, repr=False)  # None once disconnected
    final_stats: dict[str, Any] = field(default_factory=dict)
    nacked_version: int | None = None  # the zone NACKed this version, and has ACKed none since

    def as_dict(self) -> dict[str, Any]:
        stats = self.final_stats if self.live is None else session_stats(self.live())
        return {
            "id": self.id,
            "globalInstanceId": self.global_instance,
            "zoneInstanceId": self.zone_instance,
            "connectTime": iso(self.connect_time),
            "disconnectTime": iso(self.disconnect_time),
            "disconnectReason": self.disconnect_reason,
            "status": stats,
        }


class ZoneRegistry:
    def __init__(self, config_store: Store, zone_store: Store, global_instance: str,
                 liveness_timeout: float) -> None:
        self.config_store = config_store
        self.zone_store = zone_store
        self.global_instance = global_instance
        self.liveness_timeout = liveness_timeout
        self._subs: dict[str, list[Subscription]] = {}
        self._load()

    def _load(self) -> None:
        for z in self.config_store.list("Zone"):
            raw = self.zone_store.get_meta(f"subscriptions:{z.name}", "[]")
            subs = []
            for d in json.loads(raw):
                sub = Subscription(d["id"], d["zone_instance"], d["global_instance"], d["connect_time"],
                                   d.get("disconnect_time"), d.get("disconnect_reason", ""),
                                   d.get("environment", ""), final_stats=d.get("final_stats", {}))
                if sub.disconnect_time is None:  # global died while it was connected
                    sub.disconnect_time = d.get("last_seen") or sub.connect_time
                    sub.disconnect_reason = "global control plane restarted"
                subs.append(sub)
            self._subs[z.name] = subs

    def _persist(self, zone: str) -> None:
        data = []
        for s in self._subs.get(zone, [])[-MAX_SUBSCRIPTIONS:]:
            live = s.live() if s.live else None
            last_seen = wall(live.last_received) if live else None  # epoch: read back after a restart
            data.append({"id": s.id, "zone_instance": s.zone_instance, "global_instance": s.global_instance,
                         "connect_time": s.connect_time, "disconnect_time": s.disconnect_time,
                         "disconnect_reason": s.disconnect_reason, "last_seen": last_seen,
                         "environment": s.environment,
                         "final_stats": session_stats(live) if live else s.final_stats})
        self.zone_store.set_meta(f"subscriptions:{zone}", json.dumps(data))

    def zone_enabled(self, zone: str) -> bool:
        z = self.config_store.get("Zone", zone)
        return z is None or z.spec.get("enabled", True) is not False

    def connected(self, zone: str, status: StatusSource, zone_instance: str, environment: str = "") -> Subscription:
        """A session for `zone` opened; `status` reads it while it lasts."""
        if self.config_store.get("Zone", zone) is None:
            self.config_store.put(Resource("Zone", zone, None, {"enabled": True}))
        sub = Subscription(uuid.uuid4().hex, zone_instance, self.global_instance, time.time(),
                           environment=environment, live=status)
        self._subs.setdefault(zone, []).append(sub)
        self._subs[zone] = self._subs[zone][-MAX_SUBSCRIPTIONS:]
        self._persist(zone)
        return sub

    def disconnected(self, sub: Subscription, zone: str, reason: str) -> None:
        sub.final_stats = sub.as_dict()["status"]
        sub.disconnect_time = time.time()
        sub.disconnect_reason = reason
        sub.live = None
        self._persist(zone)

    def active_status(self, zone: str) -> SessionStatus | None:
        """The status of the zone's current session, if it is connected and not silent."""
        current = self._current(zone)
        if current is not None and current.live is not None:
            s = current.live()
            if time.monotonic() - s.last_received <= self.liveness_timeout:
                return s
        return None

    def _current(self, zone: str) -> Subscription | None:
        """The newest subscription still connected. Not always the last one: a session replaced
        by a newer one can have its hello read (and be registered) after the newer one's."""
        return next((s for s in reversed(self._subs.get(zone) or []) if s.disconnect_time is None), None)

    def subscriptions(self, zone: str) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self._subs.get(zone, [])]

    def zone_names(self) -> list[str]:
        return sorted({z.name for z in self.config_store.list("Zone")} | set(self._subs))

    def dataplane_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.zone_store.list("Dataplane"):
            z = r.meta.get("zone", "")
            counts[z] = counts.get(z, 0) + 1
        return counts

    def statuses(self) -> list[dict[str, Any]]:
        """Every zone's status, reading each store once (this backs a polled endpoint)."""
        zones = {z.name: z for z in self.config_store.list("Zone")}
        counts = self.dataplane_counts()
        return [self.status(n, counts, zones.get(n)) for n in sorted(set(zones) | set(self._subs))]

    def status(self, zone: str, dataplane_counts: dict[str, int] | None = None,
               zone_res: Resource | None = None) -> dict[str, Any]:
        subs = self._subs.get(zone) or []
        last = self._current(zone) or (subs[-1] if subs else None)
        session = self.active_status(zone)
        current = self.config_store.revision
        if zone_res is None:
            zone_res = self.config_store.get("Zone", zone)
        acked = session.acked_version if session else (last.final_stats.get("ackedVersion") if last else None)
        # What the zone refuses now (a partial NACK): it is not in sync until it takes them.
        rejected = (sorted(session.rejected.values()) if session
                    else list(last.final_stats.get("rejected", [])) if last else [])
        return {
            "name": zone,
            "active": session is not None,
            "enabled": zone_res is None or zone_res.spec.get("enabled", True) is not False,
            "connectTime": iso(last.connect_time) if last else None,
            "disconnectTime": iso(last.disconnect_time) if last else None,
            "disconnectReason": last.disconnect_reason if last else "",
            "lastHeartbeat": (iso(wall(session.last_received)) if session
                              else (last.final_stats.get("lastHeartbeat") if last else None)),
            "ackedVersion": acked,
            "globalVersion": current,
            "inSync": acked == current and not rejected and not (last and last.nacked_version is not None),
            "rejected": rejected,
            "nackCount": sum((s.live().nacks if s.live else s.final_stats.get("nackCount", 0)) for s in subs),
            "lastNackError": next((x for x in reversed([
                (s.live().last_nack if s.live else s.final_stats.get("lastNackError", "")) for s in subs]) if x), ""),
            "ackedAt": iso(wall(session.acked_at)) if session and session.acked_at else None,
            "dataplanes": (dataplane_counts if dataplane_counts is not None else self.dataplane_counts()).get(zone, 0),
            "environment": last.environment if last else None,
            "zoneInstanceId": last.zone_instance if last else None,
        }
