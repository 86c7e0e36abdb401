"""A gauge never outlives what it measures: global's test issue from a vault
backend leaves no mzsim_vault_token_ttl_seconds behind (it used to stay,
frozen, forever), while the zone that keeps issuing from it reports it."""
from __future__ import annotations

import base64

import pytest

from mzsim.launcher import Global, Zone, http, wait_connected
from mzsim.waiting import wait_until
from tests.observability.promtool import samples

pytestmark = pytest.mark.multiprocess


def ttl_series(url: str) -> dict[str, float]:
    return samples(http("GET", url + "/metrics")[1], "mzsim_vault_token_ttl_seconds")


def test_the_token_ttl_gauge_lives_only_where_the_backend_does(cluster, pki):
    g = cluster.add(Global(cluster.dir))
    z = cluster.add(Zone(cluster.dir, "zone-1", g, extra_args=["--dataplanes", "1", "--mesh", pki.mesh]))
    wait_connected(z)
    assert g.put(f"/meshes/{pki.mesh}", {"type": "Mesh", "name": pki.mesh})[0] == 201
    assert g.put(f"/meshes/{pki.mesh}/secrets/vault-token", {
        "type": "Secret", "mesh": pki.mesh, "name": "vault-token",
        "data": base64.b64encode(pki.token.encode()).decode()})[0] == 201
    status, body = g.put(f"/meshes/{pki.mesh}", pki.mesh_doc(token_secret="vault-token", expiration="1h"))
    assert status == 200, body  # global test-issued from vault, with the token
    series = f'{{backend="vault-1",mesh="{pki.mesh}"}}'
    wait_until(lambda: series in ttl_series(z.api), 20, what="the zone reports its vault token's TTL")
    assert ttl_series(g.api) == {}
