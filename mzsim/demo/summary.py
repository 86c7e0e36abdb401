"""The demo's one-line live summary, read from global's API."""
from __future__ import annotations

from http.client import HTTPException

from mzsim.launcher import http


def snapshot(global_api: str) -> dict | None:
    """Global's insight plus its zone statuses (as "zoneStatus"); None when global
    does not answer within 3 s (down, or paused: a stopped process accepts
    connections but never replies)."""
    try:
        status, insight = http("GET", global_api + "/global-insight", timeout=3)
        if status != 200 or not isinstance(insight, dict):
            return None
        status, zones = http("GET", global_api + "/status/zones", timeout=3)
    except (OSError, HTTPException):  # refused, reset, timed out
        return None
    insight["zoneStatus"] = zones if status == 200 and isinstance(zones, list) else []
    return insight


def nacked(insight: dict | None) -> dict[str, str]:
    """Zone name -> its last NACK error, for the zones that NACKed something."""
    return {z["name"]: z.get("lastNackError") or "" for z in (insight or {}).get("zoneStatus", [])
            if z.get("nackCount")}


def line(insight: dict | None) -> str:
    if insight is None:
        return "global unreachable"
    z, c = insight["zones"], insight["certificates"]
    offline = [s["name"] for s in insight.get("zoneStatus", []) if not s.get("active")]
    nacks = sorted(nacked(insight))
    sync = f"in sync {z['inSync']}"
    if nacks:
        sync += f", NACKed {len(nacks)}: {' '.join(nacks)}"
    if offline:
        sync += f"; offline {' '.join(offline)}"
    return (f"zones online {z['online']}/{z['total']} ({sync})  "
            f"dataplanes {insight['dataplanes']}  certificates issued {c['issued']} "
            f"rotated {c.get('rotated', 0)}  proxies failing {c['proxiesFailing']}")
