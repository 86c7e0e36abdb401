"""Global + 2 zones + the ACM PCA server, as real processes: both zones issue."""
from __future__ import annotations

from common.x509util import uri_sans_of, verify_chain
from mzsim.launcher import Global, Zone, wait_connected
from mzsim.waiting import wait_until


def test_two_zones_issue_from_the_same_acm_pca(cluster, acm, ca):
    # Credentials and endpoint come from the standard AWS variables, as users set them.
    env = {"AWS_ENDPOINT_URL_ACM_PCA": acm.endpoint, "AWS_ACCESS_KEY_ID": "mz-demo",
           "AWS_SECRET_ACCESS_KEY": "mz-demo-secret", "AWS_REGION": "us-east-1"}
    g = cluster.add(Global(cluster.dir, env=env))
    zones = [cluster.add(Zone(cluster.dir, f"zone-{i}", g, env=env,
                              extra_args=["--dataplanes", "2", "--mesh", "acm"])) for i in (1, 2)]
    for z in zones:
        wait_connected(z)
    status, body = g.put("/meshes/acm", ca.mesh_doc("acm", expiration="1h"))
    assert status == 201, body
    for z in zones:
        for dp in ("dp-0", "dp-1"):
            path = f"/meshes/acm/dataplanes/{dp}/identity"
            ident = wait_until(lambda z=z, path=path: (r := z.get(path))[0] == 200 and r[1],
                               30, what=f"{dp} certified in {z.name}")
            chain = verify_chain(ident["certificate"], [ca.root_pem])
            assert "spiffe://acm/svc-0" in uri_sans_of(chain[0])
    # The zones (not only global) called IssueCertificate with the credentials they were given.
    keys = {r.get("access_key") for r in acm.requests("IssueCertificate")}
    assert "mz-demo" in keys
