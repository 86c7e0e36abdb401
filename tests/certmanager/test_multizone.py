"""Global + a Kubernetes zone + a universal zone, with the Kubernetes API and
the issuer controller, all as real processes."""
from __future__ import annotations

from common.x509util import uri_sans_of, verify_chain
from mzsim.launcher import Global, Zone, wait_connected
from mzsim.waiting import wait_until


def test_a_kubernetes_zone_issues_from_cert_manager_and_a_universal_zone_nacks(cluster, kube):
    g = cluster.add(Global(cluster.dir, extra_args=["--kubeconfig", kube.kubeconfig]))
    kz = cluster.add(Zone(cluster.dir, "kube-1", g, extra_args=[
        "--environment", "kubernetes", "--kubeconfig", kube.kubeconfig, "--dataplanes", "3", "--mesh", "cm"]))
    uz = cluster.add(Zone(cluster.dir, "uni-1", g))
    wait_connected(kz)
    wait_connected(uz)
    status, body = g.put("/meshes/cm", kube.setup.mesh_doc("cm", expiration="1h"))
    assert status == 201, body  # global test-issued through cert-manager
    assert any("uni-1" in w for w in body["warnings"])
    for dp in ("dp-0", "dp-1", "dp-2"):
        ident = wait_until(lambda dp=dp: (r := kz.get(f"/meshes/cm/dataplanes/{dp}/identity"))[0] == 200 and r[1],
                           20, what=f"{dp} certified")
        chain = verify_chain(ident["certificate"], [kube.setup.root_pem])
        assert "spiffe://cm/svc-0" in uri_sans_of(chain[0])
    st = wait_until(lambda: (g.zone_status("uni-1") or {}).get("nackCount") and g.zone_status("uni-1"), 10)
    assert "certmanager" in st["lastNackError"] and st["environment"] == "universal"
    assert uz.mesh_names() == []
    assert g.zone_status("kube-1")["environment"] == "kubernetes"
