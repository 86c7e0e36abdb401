"""`mzsim inspect zones|meshes`, in kumactl's manner: zones with kumactl's
columns plus the NACK and disconnect reasons; meshes per zone with the
backend, certificates, failing proxies and earliest expiry."""
from __future__ import annotations

import argparse
from typing import Any

from common.timefmt import format_optional_time
from mzsim.kumactl import add_options, ago, emit, get, items, run, seg, until

ZONE_COLUMNS = ["NAME", "STATUS", "LAST CONNECTED AGO", "LAST UPDATED AGO", "TOTAL UPDATES", "TOTAL ERRORS",
                "ZONE-CP VERSION", "NACK REASON", "DISCONNECT REASON"]
MESH_COLUMNS = ["MESH", "ZONE", "BACKEND", "CERTIFICATES", "FAILING", "EXPIRING SOON", "EARLIEST EXPIRY",
                "NEXT ROTATION", "BREAKER", "LAST ERROR"]


def register(sub) -> None:
    p = sub.add_parser("inspect", help="zones (status, updates, NACK and disconnect reasons) or meshes "
                       "(certificates per zone) on global", description="Inspect zones or meshes, as kumactl "
                       "inspect does.")
    p.add_argument("kind", choices=("zones", "meshes"), help="what to inspect")
    add_options(p)
    p.set_defaults(func=lambda a: run(main, a))


def zone_row(z: dict[str, Any]) -> list[object]:
    subs = (z.get("zoneInsight") or {}).get("subscriptions") or []
    status = z.get("status") or {}
    last = subs[-1] if subs else {}
    totals = [(s.get("status") or {}).get("total") or {} for s in subs]
    online = bool(status.get("active"))
    state = "Online" if online else ("Disabled" if not status.get("enabled", True) else "Offline")
    return [z.get("name"), state, ago(last.get("connectTime")), ago((last.get("status") or {}).get("lastUpdateTime")),
            sum(int(t.get("responsesSent") or 0) for t in totals),
            sum(int(t.get("responsesRejected") or 0) for t in totals),
            ((last.get("version") or {}).get("kumaCp") or {}).get("version") or "-",
            status.get("lastNackError") or "-",
            "-" if online else (status.get("disconnectReason") or "-")]


def main(args: argparse.Namespace) -> int:
    if args.kind == "zones":
        zones = items(args, "/zones/_overview", "mzsim inspect zones")
        emit(args, zones, ZONE_COLUMNS, [zone_row(z) for z in zones])
        return 0
    prog = "mzsim inspect meshes"
    overviews = [get(args, f"/meshes/{seg(str(m.get('name')))}/_overview", prog)
                 for m in items(args, "/meshes", prog)]
    rows: list[list[object]] = []
    for ov in overviews:
        mtls = (ov.get("mesh") or {}).get("mtls") or {}
        cells = ov.get("zones") or []
        if not cells:
            rows.append([ov.get("name"), "-", mtls.get("enabledBackend") or "off"] + ["-"] * 7)
        for c in cells:
            rows.append([ov.get("name"), c["zone"], f"{c['backend']} ({c['backendType']})",
                         f"{c['valid']}/{c['proxies']} valid", c["failing"], c["expiringSoon"],
                         until(_iso(c.get("earliestExpiry"))), until(_iso(c.get("nextRotation"))), c["breaker"],
                         c["lastError"] or "-"])
    emit(args, overviews, MESH_COLUMNS, rows)
    return 0


def _iso(epoch: object) -> str | None:
    return format_optional_time(epoch) if isinstance(epoch, (int, float)) else None
