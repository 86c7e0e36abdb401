"""Resolving data sources: secrets from a real Store, files, inline, inlineString.
Errors name the field and never contain the secret value."""
from __future__ import annotations

import base64
import os

import pytest

from common.datasource import describe, resolve, resolve_text
from common.errors import DataSourceError
from common.resources import secret
from common.store import Store

SECRET_VALUE = "hunter2-very-secret"
FIELD = "mtls.backends[0].conf.fromCp.auth.token"


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "store.db"))
    s.put(secret("token-1", SECRET_VALUE, mesh="default"))
    s.put(secret("bad-data", "x", mesh="default"))
    yield s
    s.close()


@pytest.fixture
def lookup(store):
    return lambda mesh, name: store.get("Secret", name, mesh)


def test_secret_found(lookup):
    assert resolve({"secret": "token-1"}, FIELD, "default", lookup) == SECRET_VALUE.encode()
    assert resolve_text({"secret": "token-1"}, FIELD, "default", lookup) == SECRET_VALUE


def test_secret_missing_names_field_mesh_and_fix(lookup):
    with pytest.raises(DataSourceError) as e:
        resolve({"secret": "token-2"}, FIELD, "default", lookup)
    assert e.value.field == f"{FIELD}.secret"
    assert '"token-2"' in e.value.details and 'mesh "default"' in e.value.details
    assert "PUT /meshes/default/secrets/token-2" in e.value.details


def test_secret_is_mesh_scoped(lookup):
    with pytest.raises(DataSourceError, match='not found in mesh "east"'):
        resolve({"secret": "token-1"}, FIELD, "east", lookup)


def test_secret_without_a_store():
    with pytest.raises(DataSourceError) as e:
        resolve({"secret": "token-1"}, FIELD, "default", None)
    assert e.value.field == f"{FIELD}.secret"


def test_secret_with_bad_base64_in_the_store(store, lookup):
    bad = secret("bad-data", "x", mesh="default")
    bad.spec["data"] = "!!not-base64-" + SECRET_VALUE
    store.put(bad)
    with pytest.raises(DataSourceError) as e:
        resolve({"secret": "bad-data"}, FIELD, "default", lookup)
    assert SECRET_VALUE not in str(e.value)


def test_file_readable(tmp_path):
    path = tmp_path / "token"
    path.write_text(SECRET_VALUE + "\n")
    assert resolve({"file": str(path)}, FIELD, "default", None) == (SECRET_VALUE + "\n").encode()
    assert resolve_text({"file": str(path)}, FIELD, "default", None) == SECRET_VALUE


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_file_unreadable(tmp_path, make):
    path = tmp_path / "token"
    if make == "directory":
        os.mkdir(path)
    with pytest.raises(DataSourceError) as e:
        resolve({"file": str(path)}, FIELD, "default", None)
    assert e.value.field == f"{FIELD}.file"
    assert str(path) in e.value.details


def test_inline_and_inline_string():
    raw = b"\x00\xffbinary"
    assert resolve({"inline": base64.b64encode(raw).decode()}, FIELD, "default", None) == raw
    assert resolve({"inlineString": SECRET_VALUE}, FIELD, "default", None) == SECRET_VALUE.encode()


def test_inline_not_base64_does_not_echo_the_value():
    with pytest.raises(DataSourceError) as e:
        resolve({"inline": SECRET_VALUE + "!"}, FIELD, "default", None)
    assert e.value.field == f"{FIELD}.inline"
    assert SECRET_VALUE not in str(e.value) and SECRET_VALUE not in str(e.value.body())


@pytest.mark.parametrize("ds", [{}, {"secret": "a", "inlineString": SECRET_VALUE}, "token", None])
def test_exactly_one_source(ds):
    with pytest.raises(DataSourceError) as e:
        resolve(ds, FIELD, "default", None)
    assert e.value.field == FIELD
    assert SECRET_VALUE not in str(e.value)


def test_resolve_text_rejects_binary():
    with pytest.raises(DataSourceError) as e:
        resolve_text({"inline": base64.b64encode(b"\xff\xfe").decode()}, FIELD, "default", None)
    assert e.value.field == FIELD


def test_describe_never_shows_inline_values():
    assert describe({"secret": "s"}) == 'secret "s"'
    assert describe({"file": "/p"}) == 'file "/p"'
    assert SECRET_VALUE not in describe({"inlineString": SECRET_VALUE})
    assert SECRET_VALUE not in describe({"inline": SECRET_VALUE})
