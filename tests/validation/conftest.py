"""Helpers for the validation tests: parse a document, validate it, and look at
the field paths of the violations."""
from __future__ import annotations

import copy

import pytest

from common.errors import ValidationError
from common.resources import parse_resource
from common.validation import validate_resource


def _violations(doc: dict):
    try:
        return validate_resource(parse_resource(copy.deepcopy(doc)))
    except ValidationError as e:
        return e.causes


@pytest.fixture
def violations():
    """doc -> list of Violation (parse and validation errors alike)."""
    return _violations


@pytest.fixture
def fields():
    """doc -> set of the field paths that have a violation."""
    return lambda doc: {v.field for v in _violations(doc)}


@pytest.fixture
def mesh_with():
    """(backend type, conf, **backend extras) -> a Universal Mesh with that one backend enabled."""

    def make(btype: str, conf: dict | None, **extra) -> dict:
        backend = {"name": "ca-1", "type": btype, **extra}
        if conf is not None:
            backend["conf"] = conf
        return {"type": "Mesh", "name": "default", "mtls": {"enabledBackend": "ca-1", "backends": [backend]}}

    return make
