"""Parsing limits over real sockets: every hostile body is a 400 with a field path, quickly."""
from __future__ import annotations

import os

import pytest

from common.bounded import MAX_DEPTH, loads_json
from common.errors import BadRequest
from common.resources import load_documents

BOMB = """type: Mesh
name: bomb
labels:
  a: &a ["x","x","x","x","x","x","x","x","x"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""

CASES = [
    ("deep JSON", "[" * 100_000, "application/json", "nesting"),
    ("deep YAML", "type: Mesh\nname: deep\nx: " + "[" * 5000 + "]" * 5000 + "\n", "application/yaml", "nesting"),
    ("deep YAML block", "type: Mesh\nname: deep\n" + "".join(" " * i + f"k{i}:\n" for i in range(300)),
     "application/yaml", "nesting"),
    ("alias bomb", BOMB, "application/yaml", "aliases"),
    ("labels as a list", '{"type": "Mesh", "name": "l", "labels": ["a", "b"]}', "application/json", "labels"),
    ("k8s labels as a list", '{"apiVersion": "kuma.io/v1alpha1", "kind": "Mesh", "metadata": '
     '{"name": "l", "labels": ["a"]}}', "application/json", "metadata.labels"),
    ("bad label key", '{"type": "Mesh", "name": "l", "labels": {"-bad-": "x"}}', "application/json", "labels"),
    ("label value not a string", '{"type": "Mesh", "name": "l", "labels": {"a": {"b": 1}}}', "application/json",
     "labels"),
    ("huge RSAbits", '{"type": "Mesh", "name": "r", "mtls": {"enabledBackend": "ca", "backends": [{"name": "ca", '
     '"type": "builtin", "conf": {"caCert": {"RSAbits": ' + "9" * 5000 + "}}}]}}", "application/json",
     "mtls.backends[0].conf.caCert.RSAbits"),
    ("no type", '{"name": "nt"}', "application/json", "type"),
    ("type not the path's", '{"type": "GlobalSecret", "name": "l", "data": "eA=="}', "application/json", "type"),
    ("type is a list", '{"type": ["Mesh"], "name": "nt"}', "application/json", "type"),
    ("name is a dict", '{"type": "Mesh", "name": {"a": 1}}', "application/json", "name"),
]


@pytest.mark.parametrize("label,body,ctype,where", CASES, ids=[c[0] for c in CASES])
def test_hostile_mesh_bodies_get_400_naming_where(hostile, label, body, ctype, where):
    name = "deep" if "deep" in label else "bomb" if "bomb" in label else None
    path = f"/meshes/{name}" if name else "/meshes/" + {"huge RSAbits": "r", "no type": "nt",
                                                        "type is a list": "nt"}.get(label, "l")
    status, resp = hostile.timed(lambda: hostile.g.put(path, body, content_type=ctype))
    assert status == 400, resp
    text = resp["details"] + " ".join(c["field"] + " " + c["message"] for c in resp["causes"])
    assert where in text, resp
    assert len(str(resp)) < 2000
    assert hostile.g.get(path)[0] == 404
    hostile.intact()


def test_kubernetes_secret_with_labels_as_a_list(hostile):
    body = ('{"apiVersion": "v1", "kind": "Secret", "type": "system.kuma.io/secret", "metadata": '
            '{"name": "s", "namespace": "kong-mesh-system", "labels": ["kuma.io/mesh"]}, "data": {"value": "eA=="}}')
    status, resp = hostile.g.put("/meshes/keep/secrets/s", body)
    assert status == 400 and resp["causes"][0]["field"] == "metadata.labels", resp
    hostile.intact()


def test_no_traceback_in_the_log(hostile):
    log = open(hostile.g.proc.log_path).read()
    assert "Traceback" not in log and "unhandled error" not in log
    assert os.path.getsize(hostile.g.proc.log_path) < 200_000


def test_limits_in_process():
    with pytest.raises(BadRequest, match="nesting"):
        loads_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert loads_json('["[[[[", {"a": 1}]') == ["[[[[", {"a": 1}]
    with pytest.raises(BadRequest, match="digits"):
        loads_json("1" * 30)
    with pytest.raises(BadRequest, match="aliases"):
        load_documents("a: &x 1\nb: *x\n")
    assert load_documents("a: [1, 2]\n---\nb: {c: d}\n") == [{"a": [1, 2]}, {"b": {"c": "d"}}]
    with pytest.raises(BadRequest, match="labels.a"):
        load_documents("labels:\n  a: " + "1" * 40 + "\n")
