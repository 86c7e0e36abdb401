"""Global's test issue: new or changed backends are ensured and test-issued
before a mesh is stored; a failure names mtls.backends[i] and quotes the
backend; nothing is returned (so nothing is stored or synced)."""
from __future__ import annotations

import pytest

from common.errors import ValidationError
from global_cp.mtls_check import backends_to_check, prepare_mesh

from .helpers import apply_on_global, builtin, ca_pair, context, inline, mesh, provided


async def rejection(store, res, previous=None, **kw) -> tuple[str, str]:
    with pytest.raises(ValidationError) as err:
        await prepare_mesh(res, previous, context(store), **kw)
    [cause] = err.value.causes
    assert err.value.status == 400
    return cause.field, cause.message


async def test_new_builtin_mesh_returns_its_ca_secrets_after_a_test_issue(store):
    created = await prepare_mesh(mesh("m1", builtin("ca-1")), None, context(store))
    assert sorted(r.name for r in created) == ["m1.ca-builtin-cert-ca-1", "m1.ca-builtin-key-ca-1"]
    assert store.list("Secret") == []  # nothing stored by the check itself


async def test_provided_non_ca_is_rejected_with_the_backend_field(store):
    cert, key = ca_pair(ca=False)
    res = mesh("m1", builtin("ca-1"), provided("ca-2", inline(cert), inline(key)))
    field, message = await rejection(store, res)
    assert field == "mtls.backends[1]"
    assert message.startswith('could not prepare backend "ca-2": mtls.backends[ca-2].conf.cert: '
                              "the certificate is not a CA")
    assert store.list("Secret") == [] and store.list("Mesh") == []


async def test_failed_test_issue_quotes_the_backend_error(store):
    res = mesh("m1", builtin("ca-1", expiration="1h", lifetime="1d"))
    field, message = await rejection(store, res)
    assert field == "mtls.backends[0]"
    assert message.startswith('could not issue a test certificate from backend "ca-1": requested lifetime ends')
    assert "after the CA expires" in message


async def test_skipped_types_are_ensured_but_not_test_issued(store):
    res = mesh("m1", builtin("ca-1", expiration="1h", lifetime="1d"))
    created = await prepare_mesh(res, None, context(store), skip_test_issue_types=frozenset({"builtin"}))
    assert len(created) == 2
    cert, key = ca_pair(key_agreement=True)  # ensure() still checks a provided CA
    field, _ = await rejection(store, mesh("m2", provided("ca-2", inline(cert), inline(key))),
                               skip_test_issue_types=frozenset({"provided"}))
    assert field == "mtls.backends[0]"


async def test_only_new_or_changed_backends_and_the_enabled_one_are_checked(store):
    first = mesh("m1", builtin("ca-1"))
    await apply_on_global(store, first)
    assert backends_to_check(first, first) == []
    assert await prepare_mesh(first, first, context(store)) == []
    cert, key = ca_pair(ca=False)
    broken = provided("ca-2", inline(cert), inline(key))
    second = mesh("m1", builtin("ca-1"), broken)
    assert backends_to_check(second, first) == [0, 1]  # the new one, and the enabled one again
    field, _ = await rejection(store, second, first)
    assert field == "mtls.backends[1]"
    # Switching the enabled backend checks the enabled one even if unchanged.
    good_cert, good_key = ca_pair()
    both = mesh("m1", builtin("ca-1"), provided("ca-2", inline(good_cert), inline(good_key)))
    switched = mesh("m1", builtin("ca-1"), provided("ca-2", inline(good_cert), inline(good_key)), enabled="ca-2")
    assert backends_to_check(switched, both) == [1]
    assert await prepare_mesh(switched, both, context(store)) == []


async def test_unknown_type_names_the_type_field(store):
    field, message = await rejection(store, mesh("m1", {"name": "x", "type": "nope"}))
    assert field == "mtls.backends[0].type" and "unknown backend type 'nope'" in message
