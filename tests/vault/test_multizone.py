"""Global + 2 zones + OpenBao, as real processes: both zones issue from the same Vault."""
from __future__ import annotations

import base64

from common.x509util import uri_sans_of, verify_chain
from mzsim.launcher import Global, Zone, wait_connected
from mzsim.waiting import wait_until


def test_two_zones_issue_from_the_same_vault(cluster, pki):
    g = cluster.add(Global(cluster.dir))
    zones = [cluster.add(Zone(cluster.dir, f"zone-{i}", g, extra_args=["--dataplanes", "3", "--mesh", pki.mesh]))
             for i in (1, 2)]
    for z in zones:
        wait_connected(z)
    assert g.put(f"/meshes/{pki.mesh}", {"type": "Mesh", "name": pki.mesh})[0] == 201
    status, body = g.put(f"/meshes/{pki.mesh}/secrets/vault-token", {
        "type": "Secret", "mesh": pki.mesh, "name": "vault-token",
        "data": base64.b64encode(pki.token.encode()).decode()})
    assert status == 201, body
    status, body = g.put(f"/meshes/{pki.mesh}", pki.mesh_doc(token_secret="vault-token", expiration="1h"))
    assert status == 200, body
    for z in zones:
        for dp in ("dp-0", "dp-1", "dp-2"):
            ident = wait_until(lambda z=z, dp=dp: (r := z.get(f"/meshes/{pki.mesh}/dataplanes/{dp}/identity"))[0] == 200
                               and r[1], 20, what=f"{dp} certified in {z.name}")
            chain = verify_chain(ident["certificate"], [pki.root_pem])
            assert f"spiffe://{pki.mesh}/svc-0" in uri_sans_of(chain[0])
            assert ident["backend"] == "vault-1"
    wait_until(lambda: [i["dataplaneInsight"].get("mTLS", {}).get("issuedBackend")
                        for i in g.get(f"/meshes/{pki.mesh}/dataplanes/_overview")[1]["items"]] == ["vault-1"] * 6,
               10, what="six vault certificates reported to global")
