"""The reconciler with plain data: mesh views and dataplane tags in, plans out,
time passed in. No store, no event loop."""
from __future__ import annotations

import pytest

from zone_cp.issuance.meshes import MeshView
from zone_cp.issuance.reconciler import MIN_RENEW_DELAY, PENDING_GRACE, Plan, Reconciler
from zone_cp.issuance.state import DEFER, OK

from .conftest import cert

T0 = 1_700_000_000.0
SVC = {"kuma.io/service": ["web"]}


def view(name: str = "m1", fingerprint: str = "fp-1", supported: tuple[str, ...] = ("ca-1",)) -> MeshView:
    return MeshView(name, "ca-1", "builtin", {"name": "ca-1", "type": "builtin"}, supported, fingerprint, 100.0)


def dps(*names: str, tags: dict | None = None) -> list[tuple[str, dict]]:
    return [(n, tags or SVC) for n in names]


def new_mesh(r: Reconciler, v: MeshView, *names: str, now: float = T0) -> Plan:
    assert r.needs_dataplanes(v.name, v)
    return r.mesh(v.name, v, dps(*names), now)


def certify_all(r: Reconciler, now: float = T0) -> None:
    for p in r.proxies.values():
        r.certified(p, cert(now - 10, now + 100), p.wanted(r.meshes[p.mesh].fingerprint), now, now)


def test_a_new_mesh_gets_a_pool_and_every_dataplane_needs_a_certificate():
    r = Reconciler(0.8)
    v = view()
    plan = new_mesh(r, v, "dp-1", "dp-0")
    assert plan.replace_pool is v and plan.retire_pool is None and plan.relisted
    assert sorted(plan.reissue) == [("m1", "dp-0"), ("m1", "dp-1")] and plan.dropped == []
    p = r.proxies[("m1", "dp-0")]
    assert (p.tags, p.created, p.cert) == (SVC, T0, None)


def test_an_unchanged_mesh_needs_nothing_and_a_new_backend_list_only_rewrites_insights():
    r = Reconciler(0.8)
    new_mesh(r, view(), "dp-0", "dp-1")
    assert not r.needs_dataplanes("m1", view())
    assert r.mesh("m1", view(), None, T0 + 1) == Plan()
    wider = view(supported=("ca-1", "ca-2"))
    assert not r.needs_dataplanes("m1", wider)
    plan = r.mesh("m1", wider, None, T0 + 1)
    assert plan.marked == [("m1", "dp-0"), ("m1", "dp-1")] and not plan.reissue and plan.replace_pool is None
    assert r.meshes["m1"].supported == ("ca-1", "ca-2")


def test_a_new_fingerprint_reissues_relists_and_drops_vanished_dataplanes():
    r = Reconciler(0.8)
    new_mesh(r, view(), "dp-0", "dp-1", "dp-2")
    certify_all(r)
    assert r.mesh("m1", view(), None, T0).reissue == []  # certified for this fingerprint
    v2 = view(fingerprint="fp-2")
    assert r.needs_dataplanes("m1", v2)
    with pytest.raises(ValueError):
        r.mesh("m1", v2, None, T0)
    plan = r.mesh("m1", v2, dps("dp-0", "dp-2", "dp-3"), T0 + 5)
    assert plan.replace_pool is v2 and plan.relisted
    assert sorted(plan.reissue) == [("m1", "dp-0"), ("m1", "dp-2"), ("m1", "dp-3")]
    assert plan.dropped == [("m1", "dp-1")] and ("m1", "dp-1") not in r.proxies
    assert r.proxies[("m1", "dp-0")].cert is not None  # keeps serving its certificate until the new one


def test_only_the_dataplane_whose_tags_change_is_reissued():
    r = Reconciler(0.8)
    new_mesh(r, view(), "dp-0", "dp-1")
    certify_all(r)
    assert r.dataplane(("m1", "dp-0"), dict(SVC), T0) == Plan()  # same tags
    plan = r.dataplane(("m1", "dp-1"), {**SVC, "version": ["v2"]}, T0)
    assert plan.reissue == [("m1", "dp-1")] and r.proxies[("m1", "dp-1")].tags["version"] == ["v2"]
    # A new dataplane of a known mesh; one of a mesh without mTLS is not tracked.
    assert r.dataplane(("m1", "dp-9"), SVC, T0 + 3).reissue == [("m1", "dp-9")]
    assert r.proxies[("m1", "dp-9")].created == T0 + 3
    assert r.dataplane(("plain", "dp-0"), SVC, T0) == Plan() and ("plain", "dp-0") not in r.proxies


def test_deleted_dataplanes_and_meshes_are_dropped():
    r = Reconciler(0.8)
    new_mesh(r, view(), "dp-0", "dp-1")
    assert r.dataplane(("m1", "dp-0"), None, T0).dropped == [("m1", "dp-0")]
    assert ("m1", "dp-0") not in r.proxies
    # An insight left from an earlier run goes too, although the proxy was never tracked.
    assert r.dataplane(("m1", "old"), None, T0).dropped == [("m1", "old")]
    plan = r.mesh("m1", None, None, T0)
    assert plan.retire_pool == "m1" and plan.dropped == [("m1", "dp-1")] and plan.relisted
    assert r.proxies == {} and r.meshes == {}
    assert r.mesh("m1", None, None, T0) == Plan()  # already gone: nothing to do, nothing relisted
    assert not r.needs_dataplanes("m1", None)


def test_renewal_at_four_fifths_of_the_actual_lifetime():
    r = Reconciler(0.8)
    new_mesh(r, view(), "dp-0")
    p = r.proxies[("m1", "dp-0")]
    wanted = p.wanted("fp-1")
    # Backdated notBefore (clock skew): the lifetime counts from the request.
    due = r.certified(p, cert(T0 - 10, T0 + 100), wanted, T0, T0 + 1)
    assert due == p.renew_at == T0 + 80
    assert (p.status, p.issued_for, p.regenerations, p.last_regeneration) == (OK, wanted, 1, T0 + 1)
    assert (p.not_before, p.not_after, p.serial) == (T0 - 10, T0 + 100, "abc")
    # notBefore later than the request: the lifetime counts from notBefore.
    assert r.certified(p, cert(T0 + 20, T0 + 120), wanted, T0, T0 + 1) == T0 + 100
    # A certificate about to expire is not renewed in a tight loop.
    assert r.certified(p, cert(T0 - 10, T0 + 1), wanted, T0, T0 + 1) == T0 + 1 + MIN_RENEW_DELAY
    assert p.regenerations == 3
    # Tags changed while it was issued: due again at once.
    p.tags_fp = '{"version": ["v2"]}'
    assert r.certified(p, cert(T0 - 10, T0 + 100), wanted, T0, T0 + 2) == T0 + 2
    assert Reconciler(0.5).renew_fraction == 0.5


def test_identity_expires_and_insights_wait_out_the_pending_grace():
    r = Reconciler(0.8)
    new_mesh(r, view(), "dp-0", "dp-1")
    assert r.insight(("m1", "dp-0"), T0 + PENDING_GRACE / 2) is DEFER
    spec = r.insight(("m1", "dp-0"), T0 + PENDING_GRACE + 1)
    assert spec["mTLS"]["status"] == "pending" and spec["mTLS"]["supportedBackends"] == ["ca-1"]
    p = r.proxies[("m1", "dp-0")]
    issued = cert(T0 - 10, T0 + 100)
    r.certified(p, issued, p.wanted("fp-1"), T0, T0)
    assert r.insight(("m1", "dp-0"), T0)["mTLS"]["status"] == "ok"
    assert r.identity(("m1", "dp-0"), T0 + 99) is issued and r.certified_count(T0 + 99) == 1
    assert r.identity(("m1", "dp-0"), T0 + 100) is None and r.certified_count(T0 + 100) == 0
    assert r.identity(("m1", "dp-1"), T0) is None
    assert r.insight(("m1", "gone"), T0) is None


def test_renewal_is_drawn_from_a_band_that_ends_at_four_fifths():
    import random

    r = Reconciler(0.8, 0.1, random.Random(3))
    names = [f"dp-{i}" for i in range(500)]
    new_mesh(r, view(), *names)
    dues = []
    for p in r.proxies.values():
        dues.append(r.certified(p, cert(T0 - 10, T0 + 100), p.wanted("fp-1"), T0, T0) - T0)
    # Never later than Kuma's 4/5, never sooner than 7/10, and spread over the whole band.
    assert min(dues) >= 70 and max(dues) <= 80
    per_second = [sum(1 for d in dues if k <= d < k + 1) for k in range(70, 80)]
    assert min(per_second) >= 25 and max(per_second) <= 75, per_second  # about 50 each
    # A jitter of 0 is Kuma's exact 4/5.
    exact = Reconciler(0.8, 0.0)
    new_mesh(exact, view(), "dp-0")
    p = exact.proxies[("m1", "dp-0")]
    assert exact.certified(p, cert(T0 - 10, T0 + 100), p.wanted("fp-1"), T0, T0) == T0 + 80
