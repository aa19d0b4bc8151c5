"""The registry's hot-path cache: fresh for a bounded time, dropped on local writes, never caching misses."""

from __future__ import annotations

from datetime import timedelta

import pytest

from broker.core.audit import Auditor
from broker.core.clock import FakeClock
from broker.core.errors import NotFound
from broker.core.identities import Identity, IdentityKind, IdentityRegistry
from broker.store.sql import SqlStore
from tests.unit.conftest import OPERATOR


@pytest.fixture
def registry(store: SqlStore, clock: FakeClock) -> IdentityRegistry:
    return IdentityRegistry(
        store, clock, Auditor(store, clock), max_token_ttl=timedelta(hours=1), cache_ttl=timedelta(seconds=2)
    )


def test_local_writes_are_seen_at_once(registry: IdentityRegistry) -> None:
    """Disabling through the registry takes effect on the next lookup."""
    registry.create(Identity(id="svc", kind=IdentityKind.SERVICE_ACCOUNT), by=OPERATOR)
    assert not registry.lookup("svc").disabled
    registry.update("svc", {"disabled": True}, by=OPERATOR)
    assert registry.lookup("svc").disabled


def test_other_replicas_writes_are_seen_within_the_ttl(
    registry: IdentityRegistry, store: SqlStore, clock: FakeClock
) -> None:
    """A change written straight to the store (another replica) shows after at most cache_ttl."""
    registry.create(Identity(id="svc", kind=IdentityKind.SERVICE_ACCOUNT), by=OPERATOR)
    cached = registry.lookup("svc")
    store.delete_identity("svc", expected_etag=None)
    assert registry.lookup("svc") == cached
    clock.advance(timedelta(seconds=2))
    with pytest.raises(NotFound):
        registry.lookup("svc")


def test_unknown_ids_are_not_cached(registry: IdentityRegistry, store: SqlStore) -> None:
    """A miss is asked again: an identity created elsewhere is usable at once."""
    with pytest.raises(NotFound):
        registry.lookup("later")
    store.create_identity(Identity(id="later", kind=IdentityKind.AI_AGENT))
    assert registry.lookup("later").kind is IdentityKind.AI_AGENT
