from __future__ import annotations

import random

import pytest

from common.ca.base import BackendContext
from common.metrics import Registry
from common.resources import Resource
from tests.support.backends import store  # noqa: F401 (fixture)
from zone_cp.issuance import IssuanceConfig, IssuanceEngine, ManualClock


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
async def start_engine(store):
    """start_engine(clock=None, **config) -> a started IssuanceEngine on `store`, stopped at teardown."""
    started: list[IssuanceEngine] = []

    async def _start(clock=None, **config) -> IssuanceEngine:
        ctx = BackendContext(secret_lookup=lambda m, n: store.get("Secret", n, m), environment="universal",
                             metrics=Registry())
        engine = IssuanceEngine(store, ctx, IssuanceConfig(**config), clock, rng=random.Random(7))
        await engine.start()
        started.append(engine)
        return engine

    yield _start
    for engine in started:
        await engine.stop()


def dataplane(mesh: str, name: str, *inbound_tags: dict) -> Resource:
    return Resource("Dataplane", name, mesh, {"networking": {
        "address": "10.0.0.1",
        "inbound": [{"port": 8080 + i, "tags": tags} for i, tags in enumerate(inbound_tags)],
    }})


def service_dataplanes(mesh: str, count: int, services: int = 3) -> list[Resource]:
    return [dataplane(mesh, f"dp-{i}", {"kuma.io/service": f"svc-{i % services}"}) for i in range(count)]
