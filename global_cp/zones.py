"""Global's view of its zones: live sessions, subscription history (Kuma's
ZoneInsight.subscriptions) and the status list behind /status/zones."""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

from common.kds.protocol import GlobalSession
from common.resources import Resource
from common.store import Store

MAX_SUBSCRIPTIONS = 10  # kept per zone, newest last


def iso(ts: float | None) -> str | None:
    if not ts:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def wall(monotonic_ts: float) -> float:
    """A time.monotonic() reading as epoch seconds."""
    return time.time() - (time.monotonic() - monotonic_ts)


@dataclass
class Subscription:
    id: str
    zone_instance: str
    global_instance: str
    connect_time: float
    disconnect_time: float | None = None
    disconnect_reason: str = ""
    environment: str = ""
    session: GlobalSession | None = field(default=None, repr=False)
    final_stats: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        s = self.session
        stats = self.final_stats
        if s is not None:
            stats = {
                "lastHeartbeat": iso(wall(s.last_received)),
                "ackedVersion": s.sender.acked_version,
                "inFlight": s.sender.in_flight.nonce if s.sender.in_flight else None,
                "nackCount": s.sender.nacks,
                "lastNackError": s.sender.last_nack,
                "protocolErrors": s.protocol_errors,
                "lastProtocolError": s.last_protocol_error,
                "total": {
                    "responsesSent": sum(v.sent for v in s.sender.stats.values()),
                    "responsesAcknowledged": sum(v.acked for v in s.sender.stats.values()),
                    "responsesRejected": sum(v.rejected for v in s.sender.stats.values()),
                },
                "stat": {k: {"responsesSent": v.sent, "responsesAcknowledged": v.acked,
                             "responsesRejected": v.rejected} for k, v in sorted(s.sender.stats.items())},
                "upstream": {"batchesApplied": s.receiver.applied_batches, "lastError": s.receiver.last_error},
            }
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
    def __init__(self, config_store: Store, zone_store: Store, global_instance: str, liveness_timeout: float):
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
            last_seen = s.session.last_received if s.session else None
            data.append({"id": s.id, "zone_instance": s.zone_instance, "global_instance": s.global_instance,
                         "connect_time": s.connect_time, "disconnect_time": s.disconnect_time,
                         "disconnect_reason": s.disconnect_reason, "last_seen": last_seen,
                         "environment": s.environment,
                         "final_stats": s.as_dict()["status"] if s.session else s.final_stats})
        self.zone_store.set_meta(f"subscriptions:{zone}", json.dumps(data))

    def zone_enabled(self, zone: str) -> bool:
        z = self.config_store.get("Zone", zone)
        return z is None or z.spec.get("enabled", True) is not False

    def connected(self, session: GlobalSession, zone_instance: str, environment: str = "") -> Subscription:
        zone = session.zone
        if self.config_store.get("Zone", zone) is None:
            self.config_store.put(Resource("Zone", zone, None, {"enabled": True}))
        sub = Subscription(uuid.uuid4().hex, zone_instance, self.global_instance, time.time(),
                           environment=environment, session=session)
        self._subs.setdefault(zone, []).append(sub)
        self._subs[zone] = self._subs[zone][-MAX_SUBSCRIPTIONS:]
        self._persist(zone)
        return sub

    def disconnected(self, sub: Subscription, zone: str, reason: str) -> None:
        sub.final_stats = sub.as_dict()["status"]
        sub.disconnect_time = time.time()
        sub.disconnect_reason = reason
        sub.session = None
        self._persist(zone)

    def active_session(self, zone: str) -> GlobalSession | None:
        subs = self._subs.get(zone) or []
        if subs and subs[-1].disconnect_time is None and subs[-1].session is not None:
            s = subs[-1].session
            if time.monotonic() - s.last_received <= self.liveness_timeout:
                return s
        return None

    def subscriptions(self, zone: str) -> list[dict]:
        return [s.as_dict() for s in self._subs.get(zone, [])]

    def zone_names(self) -> list[str]:
        return sorted({z.name for z in self.config_store.list("Zone")} | set(self._subs))

    def dataplane_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.zone_store.list("Dataplane"):
            z = r.meta.get("zone", "")
            counts[z] = counts.get(z, 0) + 1
        return counts

    def statuses(self) -> list[dict]:
        """Every zone's status, reading each store once (this backs a polled endpoint)."""
        zones = {z.name: z for z in self.config_store.list("Zone")}
        counts = self.dataplane_counts()
        return [self.status(n, counts, zones.get(n)) for n in sorted(set(zones) | set(self._subs))]

    def status(self, zone: str, dataplane_counts: dict[str, int] | None = None,
               zone_res: Resource | None = None) -> dict:
        subs = self._subs.get(zone) or []
        last = subs[-1] if subs else None
        session = self.active_session(zone)
        current = self.config_store.revision
        if zone_res is None:
            zone_res = self.config_store.get("Zone", zone)
        acked = session.sender.acked_version if session else (last.final_stats.get("ackedVersion") if last else None)
        src = session or None
        return {
            "name": zone,
            "active": session is not None,
            "enabled": zone_res is None or zone_res.spec.get("enabled", True) is not False,
            "connectTime": iso(last.connect_time) if last else None,
            "disconnectTime": iso(last.disconnect_time) if last else None,
            "disconnectReason": last.disconnect_reason if last else "",
            "lastHeartbeat": (iso(wall(src.last_received)) if src
                              else (last.final_stats.get("lastHeartbeat") if last else None)),
            "ackedVersion": acked,
            "globalVersion": current,
            "inSync": acked == current,
            "nackCount": sum((s.session.sender.nacks if s.session else s.final_stats.get("nackCount", 0))
                             for s in subs),
            "lastNackError": next((x for x in reversed([
                (s.session.sender.last_nack if s.session else s.final_stats.get("lastNackError", ""))
                for s in subs]) if x), ""),
            "ackedAt": (wall(session.sender.acked_at) if session and session.sender.acked_at else None),
            "dataplanes": (dataplane_counts if dataplane_counts is not None else self.dataplane_counts()).get(zone, 0),
            "environment": last.environment if last else None,
            "zoneInstanceId": last.zone_instance if last else None,
        }
