"""Static data source rules (no I/O), seen through a provided backend's `cert`."""
from __future__ import annotations

import base64

import pytest

P = "mtls.backends[0].conf.cert"


def with_cert(mesh_with, ds) -> dict:
    return mesh_with("provided", {"cert": ds, "key": {"secret": "ca-key"}})


@pytest.mark.parametrize("ds", [
    {"secret": "ca-cert"},
    {"file": "/does/not/exist.pem"},  # not read offline
    {"inline": base64.b64encode(b"-----BEGIN CERTIFICATE-----").decode()},
    {"inlineString": "-----BEGIN CERTIFICATE-----"},
])
def test_accepted(violations, mesh_with, ds):
    assert violations(with_cert(mesh_with, ds)) == []


@pytest.mark.parametrize("ds,paths", [
    ({}, {P}),
    ({"secret": "a", "inlineString": "b"}, {P}),
    ({"secret": ""}, {f"{P}.secret"}),
    ({"secret": "Not_A_Name"}, {f"{P}.secret"}),
    ({"file": None}, {f"{P}.file"}),
    ({"inline": "not base64!"}, {f"{P}.inline"}),
    ({"inlineString": 42}, {f"{P}.inlineString"}),
    ({"secret": "a", "env": "CA"}, {f"{P}.env"}),
    ("ca-cert", {P}),
])
def test_rejected(fields, mesh_with, ds, paths):
    assert fields(with_cert(mesh_with, ds)) == paths


def test_messages_never_quote_inline_values(violations, mesh_with):
    secret = "c2VjcmV0LXZhbHVl!!"  # invalid base64 that must not be echoed
    vs = violations(with_cert(mesh_with, {"inline": secret, "inlineString": "hunter2-password"}))
    assert vs and all(secret not in v.message and "hunter2" not in v.message for v in vs)
