"""The auth layer's slotted records keep the value semantics their dataclasses had."""

from __future__ import annotations

import copy
import pickle
from dataclasses import FrozenInstanceError

import pytest

from steer_sync._auth import AuthErrorContext, HeaderPair, QueryParam, RequestKind
from steer_sync._auth._plugin import NO_AUTH, ApiKeyOrigin, ApiKeySource, NoAuthSource, PluginSource


def test_records_compare_and_hash_by_their_fields() -> None:
    assert HeaderPair("x-token", "t1") == HeaderPair("x-token", "t1")
    assert HeaderPair("x-token", "t1") != HeaderPair("x-token", "t2")
    assert len({QueryParam("a", "1"), QueryParam("a", "1"), QueryParam("a", "2")}) == 2
    assert ApiKeySource(ApiKeyOrigin.ENV) != ApiKeySource(ApiKeyOrigin.STORED)
    assert NoAuthSource() == NO_AUTH
    # Different record types with the same values are not equal.
    assert QueryParam("a", "1") != HeaderPair("a", "1")


def test_records_are_immutable() -> None:
    pair = HeaderPair("x-token", "t1")
    with pytest.raises(FrozenInstanceError):
        pair.value = "t2"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del pair.name  # type: ignore[misc]
    with pytest.raises(AttributeError):
        pair.other = 1  # type: ignore[attr-defined]


def test_a_header_value_never_shows_in_the_repr() -> None:
    assert repr(HeaderPair("authorization", "Bearer secret-value")) == "HeaderPair(name='authorization')"
    context = AuthErrorContext(401, "denied", RequestKind.COMPLETE)
    assert (
        repr(context) == f"AuthErrorContext(status=401, body_snippet='denied', request_kind={RequestKind.COMPLETE!r})"
    )
    assert repr(PluginSource()) == f"PluginSource(method={PluginSource().method!r})"


def test_records_survive_pickle_and_copy() -> None:
    for record in (
        QueryParam("a", "1"),
        AuthErrorContext(403, None, RequestKind.STREAM),
        ApiKeySource(ApiKeyOrigin.ENV),
    ):
        assert pickle.loads(pickle.dumps(record)) == record
        assert copy.deepcopy(record) == record
