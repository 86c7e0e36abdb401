"""Failure handling with an injected clock: per-proxy backoff (sequence, cap,
recovery), the per-backend breaker (opens at 10 distinct failing proxies, one
half-open probe, closes on success), and one failing mesh never delaying
another. The failing backends are real: a builtin mesh whose CA has not
arrived, a provided CA whose files do not exist yet, a vault that never answers."""
from __future__ import annotations

import asyncio

import pytest

from common.ca import registry
from common.resources import secret
from common.store import Store
from mzsim.waiting import async_wait_until
from tests.ca.helpers import apply_on_global, builtin, ca_pair, context, mesh, provided
from zone_cp.issuance.policy import CLOSED, OPEN, Breaker

from .conftest import service_dataplanes


def test_breaker_counts_distinct_proxies_within_the_window():
    b = Breaker(threshold=3, window=60, cooldown=30)
    for _ in range(5):
        assert not b.record_failure("a", 0)  # one proxy failing often is not an outage
    assert not b.record_failure("b", 15)
    assert not b.record_failure("c", 71)  # "a" fell out of the window
    assert b.record_failure("d", 72) and b.state == OPEN


async def test_backoff_sequence_cap_and_recovery(store, start_engine, clock):
    store.put(mesh("m1", builtin("ca-1")))  # the zone has the mesh, not yet its CA
    store.apply(service_dataplanes("m1", 1), [])
    engine = await start_engine(clock, backoff_base=5, backoff_cap=40, backoff_jitter=0, breaker_threshold=100)
    p = await async_wait_until(lambda: (x := engine.proxy("m1", "dp-0")) and x.failures == 1 and x)
    assert p.status == "backoff" and 'secret "m1.ca-builtin-cert-ca-1" not found' in p.last_error
    delays = [p.due - p.last_error_time]
    for k in range(2, 7):
        clock.advance(p.due - clock.now())
        await async_wait_until(lambda k=k: p.failures == k, what=f"failure {k}")
        delays.append(p.due - p.last_error_time)
    assert delays == [5, 10, 20, 40, 40, 40]
    insight = await async_wait_until(lambda: (r := store.get("DataplaneInsight", "dp-0", "m1")) and
                                     r.spec["mTLS"].get("lastError") and r.spec["mTLS"]["status"] == "backoff" and r)
    assert "not found" in insight.spec["mTLS"]["lastError"] and insight.spec["mTLS"]["nextAttemptTime"]
    # The CA arrives from global: the zone issues at once, without waiting out the backoff.
    store.apply(await registry.build("m1", builtin("ca-1"), context(Store(":memory:"))).ensure(), [])
    await async_wait_until(lambda: engine.identity("m1", "dp-0"), what="issue after the CA arrived")
    assert p.failures == 0 and p.status == "ok" and p.last_error  # the last error stays on record


async def test_non_retryable_errors_back_off_and_are_reported(store, start_engine, clock):
    cert, key = ca_pair(ca=False)
    store.put(mesh("m1", provided("ca-2", {"inlineString": cert}, {"inlineString": key})))
    store.apply(service_dataplanes("m1", 1), [])
    engine = await start_engine(clock, backoff_base=5, backoff_jitter=0)
    p = await async_wait_until(lambda: (x := engine.proxy("m1", "dp-0")) and x.failures == 1 and x)
    assert p.status == "error" and p.due - p.last_error_time == 5
    assert p.last_error.startswith("mtls.backends[ca-2].conf.cert: the certificate is not a CA")


async def test_breaker_opens_probes_once_and_closes_on_success(store, start_engine, clock, tmp_path):
    cert_file, key_file = tmp_path / "ca.pem", tmp_path / "ca.key"
    store.put(mesh("m1", provided("ca-2", {"file": str(cert_file)}, {"file": str(key_file)})))
    store.apply(service_dataplanes("m1", 12), [])
    engine = await start_engine(clock, backoff_base=5, backoff_jitter=0, breaker_threshold=10,
                                breaker_window=60, breaker_cooldown=30, concurrency=4)
    gauge = engine.ctx.metrics.gauge("mzsim_breaker_open", "")
    labels = {"backend_type": "provided", "mesh": "m1", "backend": "ca-2"}

    def backend_stats():
        return engine.stats()["backends"][0]

    await async_wait_until(lambda: backend_stats()["breaker"] == OPEN, what="breaker open")
    assert engine.stats()["failed"] == 10  # the 11th and 12th were held back, not sent
    assert gauge.value(**labels) == 1
    await async_wait_until(lambda: all(engine.proxy("m1", f"dp-{i}").due for i in range(12)))
    # Cooldown over: exactly one half-open probe; it fails (no CA files yet) and re-opens the breaker.
    clock.advance(30)
    await async_wait_until(lambda: backend_stats()["timesOpened"] == 2, what="re-opened after the probe")
    assert engine.stats()["failed"] == 11 and backend_stats()["breaker"] == OPEN
    statuses = {engine.proxy("m1", f"dp-{i}").status for i in range(12)}
    assert statuses <= {"breaker-open", "backoff"} and "breaker-open" in statuses
    # The CA is fixed in place (files are not watched): the next probe succeeds and closes the breaker.
    cert, key = ca_pair()
    cert_file.write_text(cert)
    key_file.write_text(key)
    clock.advance(30)
    await async_wait_until(lambda: engine.stats()["issued"] == 12, what="all issued after the breaker closed")
    assert backend_stats()["breaker"] == CLOSED and gauge.value(**labels) == 0
    assert engine.stats()["failed"] == 11


class SilentServer:
    """Accepts TCP connections and never answers: a backend that hangs."""

    def __init__(self):
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        async def handle(reader, writer):
            self.writers.append(writer)
            await reader.read()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        self.server.close()
        for w in self.writers:
            w.close()
        await self.server.wait_closed()


@pytest.fixture
async def silent():
    s = SilentServer()
    yield await s.start()
    await s.stop()


async def test_a_hanging_backend_does_not_delay_another_mesh(store, start_engine, silent):
    hung = {"name": "vault-1", "type": "vault", "conf": {"fromCp": {
        "address": silent, "pki": "pki", "role": "dp", "auth": {"token": {"secret": "vault-token"}}}}}
    store.apply([mesh("bad", hung), secret("vault-token", "s.never-used", "bad")], [])
    store.apply(service_dataplanes("bad", 20), [])
    await apply_on_global(store, mesh("good", builtin("ca-1")))
    store.apply(service_dataplanes("good", 40), [])
    engine = await start_engine(concurrency=4, issue_timeout=30)
    names = [f"dp-{i}" for i in range(40)]
    await async_wait_until(lambda: all(engine.identity("good", n) for n in names), what="good mesh issued")
    bad = next(b for b in engine.stats()["backends"] if b["mesh"] == "bad")
    # Every worker of the bad mesh is still waiting on the silent vault, and none has finished.
    assert engine.stats()["failed"] == 0 and bad["queued"] == 16
    # Global moves the mesh to a working backend: queued and hung proxies alike are issued from it.
    await apply_on_global(store, mesh("bad", builtin("ca-1")))
    bad_names = [f"dp-{i}" for i in range(20)]
    await async_wait_until(lambda: all(engine.identity("bad", n) for n in bad_names), what="bad mesh recovered")
