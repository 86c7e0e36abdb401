from __future__ import annotations

import datetime as dt
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.ca.base import BackendContext
from common.metrics import Registry
from common.resources import Resource
from common.x509util import IssuedCert, cert_to_pem
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


_KEY = ec.generate_private_key(ec.SECP256R1())


def cert(not_before: float, not_after: float) -> IssuedCert:
    """A self-signed certificate valid from `not_before` to `not_after` (epoch seconds)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    leaf = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_KEY.public_key())
            .serial_number(0xABC).not_valid_before(dt.datetime.fromtimestamp(not_before, dt.UTC))
            .not_valid_after(dt.datetime.fromtimestamp(not_after, dt.UTC)).sign(_KEY, hashes.SHA256()))
    return IssuedCert(cert_to_pem(leaf), "", [])
