"""The zone issuance engine in-process: certificates for every dataplane of an
mTLS mesh, rotation at 4/5 of the actual lifetime, reissue on mesh, CA and tag
changes, state dropped with dataplanes and meshes, DataplaneInsights."""
from __future__ import annotations

import re

from common.ca import registry
from common.resources import Resource
from common.store import Store
from common.x509util import uri_sans_of, verify_chain
from mzsim.waiting import async_wait_until
from tests.ca.helpers import apply_on_global, builtin, context, mesh

from .conftest import dataplane, service_dataplanes

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def certified(engine, mesh_name: str, names) -> bool:
    return all(engine.identity(mesh_name, n) is not None for n in names)


async def test_every_dataplane_gets_a_verifiable_certificate(store, start_engine):
    spec = builtin("ca-1")
    spec["conf"]["commonName"] = '{{ tag "kuma.io/service" }}.mesh'
    await apply_on_global(store, mesh("m1", spec))
    store.apply(service_dataplanes("m1", 5) + [
        dataplane("m1", "multi", {"kuma.io/service": "web", "version": "v2"}, {"kuma.io/service": "admin"})], [])
    engine = await start_engine()
    names = [f"dp-{i}" for i in range(5)] + ["multi"]
    await async_wait_until(lambda: certified(engine, "m1", names), what="all certified")
    root = store.get("Secret", "m1.ca-builtin-cert-ca-1", "m1").secret_bytes().decode()
    for n in names:
        issued = engine.identity("m1", n)
        verify_chain(issued.cert_pem, [root])
    leaf = engine.identity("m1", "multi").leaf
    assert uri_sans_of(leaf) == ["spiffe://m1/admin", "spiffe://m1/web", "kuma://kuma.io/service/admin",
                                 "kuma://kuma.io/service/web", "kuma://version/v2"]
    assert leaf.subject.rfc4514_string() == "CN=admin.mesh"
    assert engine.stats()["issued"] == 6 and engine.stats()["failed"] == 0


async def test_dataplane_insight_reports_the_certificate(store, start_engine):
    await apply_on_global(store, mesh("m1", builtin("ca-1"), builtin("ca-2")))
    store.apply(service_dataplanes("m1", 1), [])
    engine = await start_engine()
    insight = await async_wait_until(
        lambda: (r := store.get("DataplaneInsight", "dp-0", "m1")) and r.spec["mTLS"]["status"] == "ok" and r,
        what="an ok insight")
    m = insight.spec["mTLS"]
    cert = engine.identity("m1", "dp-0")
    assert m["serial"] == cert.serial_hex and m["issuedBackend"] == "ca-1"
    assert m["supportedBackends"] == ["ca-1", "ca-2"] and m["certificateRegenerations"] == 1
    assert m["certificateExpirationTime"] == cert.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert m["notBefore"] == cert.not_before.strftime("%Y-%m-%dT%H:%M:%SZ")
    for k in ("lastCertificateRegeneration", "nextAttemptTime"):
        assert ISO.match(m[k])
    assert "lastError" not in m
    # Coalesced: marking an unchanged insight writes nothing, not even a new store revision.
    writes, revision = engine.insights.writes, store.revision
    engine.insights.mark(("m1", "dp-0"))
    engine.insights.flush()
    assert (engine.insights.writes, store.revision) == (writes, revision)


async def test_rotation_at_four_fifths_of_the_actual_lifetime(store, start_engine, clock):
    await apply_on_global(store, mesh("m1", builtin("ca-1", lifetime="100s")))
    store.apply(service_dataplanes("m1", 1), [])
    t0 = clock.now()
    engine = await start_engine(clock, renew_jitter=0.0)  # Kuma's exact 4/5 (the band: the next tests)
    first = await async_wait_until(lambda: engine.identity("m1", "dp-0"))
    p = engine.proxy("m1", "dp-0")
    # notBefore is backdated 10s for clock skew; renewal counts from the issue: t0 + 0.8 * 100.
    assert first.not_before.timestamp() < t0 - 5
    assert abs(p.renew_at - (t0 + 80)) < 1.0 and p.due == p.renew_at
    clock.advance(p.renew_at - clock.now() - 1)
    assert engine.identity("m1", "dp-0") is first and engine.stats()["rotated"] == 0
    clock.advance(2)
    await async_wait_until(lambda: engine.stats()["rotated"] == 1, what="rotation")
    second = engine.identity("m1", "dp-0")
    assert second.serial_hex != first.serial_hex
    # The manual clock ran ahead of the wall clock that signed it: 4/5 of what is left of its validity.
    now = clock.now()
    assert abs(p.renew_at - (now + 0.8 * (second.not_after.timestamp() - now))) < 1e-3
    await async_wait_until(lambda: store.get("DataplaneInsight", "dp-0", "m1").spec["mTLS"]
                           ["certificateRegenerations"] == 2, what="insight of the rotation")


async def test_jittered_renewals_make_a_steady_rate_not_waves(store, start_engine, clock):
    """200 certificates issued together renew spread over [0.7, 0.8] of their lifetime,
    each at the time drawn for it, so no second of the band gets a wave."""
    n = 200
    await apply_on_global(store, mesh("m1", builtin("ca-1", lifetime="100s")))
    store.apply(service_dataplanes("m1", n), [])
    engine = await start_engine(clock)  # the default band: renew_fraction 0.8, renew_jitter 0.1
    await async_wait_until(lambda: engine.stats()["issued"] == n, what="all issued")
    issued_at = {p.name: p.last_regeneration for p in engine.reconciler.proxies.values()}
    renew_at = [p.renew_at for p in engine.reconciler.proxies.values()]
    start = clock.now()  # the request time of every first issue (the manual clock stood still)
    # The lifetime counts from the request to notAfter (signed by the wall clock, a little ahead of this one).
    assert all(0.7 <= (p.renew_at - start) / (p.not_after - start) <= 0.8 for p in engine.reconciler.proxies.values())
    clock.advance(69)
    per_second = []
    for _ in range(14):
        before = engine.stats()["rotated"]
        clock.advance(1)
        due = sum(1 for t in renew_at if t <= clock.now())
        await async_wait_until(lambda due=due: engine.stats()["rotated"] >= due, what="this second's renewals")
        per_second.append(engine.stats()["rotated"] - before)
    assert sum(per_second) == n, per_second
    assert max(per_second) <= n // 10 * 2, per_second  # about 20 a second; Kuma's exact 4/5: all 200 at once
    assert sum(1 for c in per_second if c) >= 9, per_second
    # Each renewed at its own drawn time: the lateness is what the 1 s steps add, and nothing expired.
    rotation = engine.stats()["rotation"]
    assert rotation["renewals"] == n and rotation["expiredBeforeRenewal"] == 0
    assert 0 < rotation["maxLateSeconds"] <= 1.5
    assert all(p.last_regeneration > issued_at[p.name] for p in engine.reconciler.proxies.values())


async def test_a_renewal_that_runs_late_is_counted_and_one_after_expiry_too(store, start_engine, clock):
    await apply_on_global(store, mesh("m1", builtin("ca-1", lifetime="100s")))
    store.apply(service_dataplanes("m1", 2), [])
    engine = await start_engine(clock, renew_jitter=0.0)
    await async_wait_until(lambda: engine.stats()["issued"] == 2, what="both issued")
    first, second = engine.proxy("m1", "dp-0"), engine.proxy("m1", "dp-1")
    assert first.renew_at == second.renew_at  # issued at the same (manual) time, no jitter
    clock.advance(first.renew_at - clock.now() + 4)  # the loop was 4 s behind
    await async_wait_until(lambda: engine.stats()["rotated"] == 2, what="late rotations")
    rotation = engine.stats()["rotation"]
    assert rotation["renewals"] == 2 and rotation["expiredBeforeRenewal"] == 0
    assert 4 <= rotation["maxLateSeconds"] < 5
    assert rotation["lateSeconds"]["counts"][rotation["lateSeconds"]["le"].index(5.0)] == 2
    # Far past notAfter (a zone that was stopped, say): the renewal still comes, and is counted as after expiry.
    clock.advance(first.not_after - clock.now() + 30)
    await async_wait_until(lambda: engine.stats()["rotated"] == 4, what="renewals after expiry")
    assert engine.stats()["rotation"]["expiredBeforeRenewal"] == 2


async def test_mesh_change_reissues_every_dataplane(store, start_engine):
    await apply_on_global(store, mesh("m1", builtin("ca-1", lifetime="1h")))
    store.apply(service_dataplanes("m1", 4), [])
    engine = await start_engine()
    names = [f"dp-{i}" for i in range(4)]
    await async_wait_until(lambda: certified(engine, "m1", names))
    await apply_on_global(store, mesh("m1", builtin("ca-1", lifetime="2h")))
    await async_wait_until(lambda: engine.stats()["rotated"] == 4, what="reissue after the mesh change")
    for n in names:
        c = engine.identity("m1", n)
        assert abs((c.not_after - c.not_before).total_seconds() - 7200 - 10) < 60


async def test_new_ca_secret_reissues_against_the_new_root(store, start_engine):
    await apply_on_global(store, mesh("m1", builtin("ca-1")))
    store.apply(service_dataplanes("m1", 3), [])
    engine = await start_engine()
    await async_wait_until(lambda: certified(engine, "m1", ["dp-0", "dp-1", "dp-2"]))
    fresh = await registry.build("m1", builtin("ca-1"), context(Store(":memory:"))).ensure()
    store.apply(fresh, [])  # global replaced the CA; KDS delivered the new secrets
    new_root = fresh[0].secret_bytes().decode()
    await async_wait_until(lambda: engine.stats()["rotated"] == 3, what="reissue after the CA change")
    for n in ("dp-0", "dp-1", "dp-2"):
        verify_chain(engine.identity("m1", n).cert_pem, [new_root])


async def test_tag_change_reissues_only_that_dataplane(store, start_engine):
    await apply_on_global(store, mesh("m1", builtin("ca-1")))
    store.apply(service_dataplanes("m1", 2), [])
    engine = await start_engine()
    await async_wait_until(lambda: certified(engine, "m1", ["dp-0", "dp-1"]))
    store.put(dataplane("m1", "dp-1", {"kuma.io/service": "svc-1", "version": "v9"}))
    await async_wait_until(lambda: engine.stats()["rotated"] == 1)
    assert "kuma://version/v9" in uri_sans_of(engine.identity("m1", "dp-1").leaf)
    assert engine.proxy("m1", "dp-0").regenerations == 1


async def test_deleted_dataplanes_and_meshes_drop_their_state(store, start_engine):
    await apply_on_global(store, mesh("m1", builtin("ca-1")))
    store.apply(service_dataplanes("m1", 3), [])
    engine = await start_engine()
    await async_wait_until(lambda: store.count("DataplaneInsight", "m1") == 3)
    store.delete("Dataplane", "dp-0", "m1")
    await async_wait_until(lambda: engine.proxy("m1", "dp-0") is None and
                           store.get("DataplaneInsight", "dp-0", "m1") is None)
    # mTLS switched off, then the mesh deleted: no errors, nothing left
    store.put(Resource("Mesh", "m1", None, {}))
    await async_wait_until(lambda: engine.stats()["proxies"] == 0 and store.count("DataplaneInsight") == 0)
    store.delete("Mesh", "m1")
    await apply_on_global(store, mesh("m2", builtin("ca-1")))
    store.apply(service_dataplanes("m2", 1), [])
    await async_wait_until(lambda: engine.identity("m2", "dp-0"))
    assert engine.stats()["failed"] == 0 and engine.stats()["backends"][0]["mesh"] == "m2"
