"""Which resource kinds flow in which direction."""
from __future__ import annotations

from ..resources import Resource
from ..tokens import SIGNING_KEY_NAME

DOWNSTREAM_KINDS = ("Mesh", "Secret", "GlobalSecret")
UPSTREAM_KINDS = ("Dataplane", "DataplaneInsight", "ZoneInsight")

# Never sent to zones: the zone-token signing key is global's alone (unlike a
# plain GlobalSecret, a zone holding it could mint tokens for other zones).
_PRIVATE_GLOBAL_SECRETS = frozenset({SIGNING_KEY_NAME})


def syncs_down(kind: str, name: str) -> bool:
    if kind not in DOWNSTREAM_KINDS:
        return False
    return not (kind == "GlobalSecret" and name in _PRIVATE_GLOBAL_SECRETS)


def down_filter(res: Resource) -> bool:
    return syncs_down(res.kind, res.name)
