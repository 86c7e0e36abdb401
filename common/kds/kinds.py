"""Which resource kinds flow in which direction."""
from __future__ import annotations

from ..resources import Resource
from ..tokens import is_private_global_secret

DOWNSTREAM_KINDS = ("Mesh", "Secret", "GlobalSecret")
UPSTREAM_KINDS = ("Dataplane", "DataplaneInsight", "ZoneInsight")

# Never sent to zones: the token signing keys, the admin token and the
# revocation list are global's alone (a zone holding a signing key could mint
# tokens for other zones, or for global's API).


def syncs_down(kind: str, name: str) -> bool:
    if kind not in DOWNSTREAM_KINDS:
        return False
    return not (kind == "GlobalSecret" and is_private_global_secret(name))


def down_filter(res: Resource) -> bool:
    return syncs_down(res.kind, res.name)
