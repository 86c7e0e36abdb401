"""The demo's one-line live summary, read from global's API."""
from __future__ import annotations

from mzsim.launcher import http


def snapshot(global_api: str) -> dict | None:
    status, insight = http("GET", global_api + "/global-insight", timeout=3)
    if status != 200:
        return None
    return insight


def line(insight: dict | None) -> str:
    if insight is None:
        return "global unreachable"
    z, c = insight["zones"], insight["certificates"]
    return (f"zones online {z['online']}/{z['total']} (in sync {z['inSync']})  "
            f"dataplanes {insight['dataplanes']}  certificates issued {c['issued']} "
            f"rotated {c.get('rotated', 0)}  proxies failing {c['proxiesFailing']}")
