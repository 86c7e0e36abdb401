"""What the CA backend tests share: a secret store for data sources whose values
can change at runtime, a metrics registry, a SQLite store, and backends built
against them and closed at teardown. tests/conftest.py loads this module as a
plugin, so its fixtures are available to every test."""
from __future__ import annotations

import asyncio

import pytest

from common.ca.base import BackendContext, CABackend
from common.ca.registry import build
from common.metrics import Registry
from common.resources import secret
from common.store import Store


class Secrets:
    """A mesh-scoped secret store for data sources; values can change at runtime."""

    def __init__(self):
        self._items = {}

    def put(self, mesh: str, name: str, value: bytes | str) -> None:
        self._items[(mesh, name)] = secret(name, value, mesh)

    def lookup(self, mesh: str, name: str):
        return self._items.get((mesh, name))


class Backends:
    """Builds backends that read `secrets` and report to `metrics`; close_all() closes them."""

    def __init__(self, secrets: Secrets, metrics: Registry):
        self.secrets, self.metrics = secrets, metrics
        self._made: list[CABackend] = []

    def build(self, mesh: str, spec: dict, **ctx_fields) -> CABackend:
        ctx = BackendContext(secret_lookup=self.secrets.lookup, metrics=self.metrics, **ctx_fields)
        backend = build(mesh, spec, ctx)
        self._made.append(backend)
        return backend

    async def close_all(self) -> None:
        made, self._made = self._made, []
        await asyncio.gather(*(b.close() for b in made))


@pytest.fixture
def secrets():
    return Secrets()


@pytest.fixture
def metrics():
    return Registry()


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "store.db"))
    yield s
    s.close()
