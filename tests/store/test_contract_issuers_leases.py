"""The Store contract for trusted issuers and the scheduler's leader lease."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from broker.core.errors import AlreadyExists, NotFound
from broker.core.issuers import TrustedIssuer
from broker.store.base import Store

from .conftest import race

NOW = datetime(2030, 1, 1, tzinfo=UTC)
TTL = timedelta(seconds=30)


def issuer(url: str, **changes: object) -> TrustedIssuer:
    """A trusted issuer with every field set to something non-default."""
    base = TrustedIssuer(
        issuer=url,
        jwks_url=f"{url}/.well-known/jwks.json",
        algorithms=("ES256",),
        audience="https://broker.example",
        single_use=True,
        max_token_age=timedelta(minutes=10),
        create_time=NOW,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]  # one type for every field's override


# trusted issuers ------------------------------------------------------------------


def test_create_issuer_then_get_returns_it_with_an_etag(store: Store) -> None:
    """Every field survives the round trip; an inline JWKS and no age limit too."""
    created = store.create_issuer(issuer("https://ci.example"))
    assert created.etag
    assert (
        store.get_issuer("https://ci.example")
        == created
        == dataclasses.replace(issuer("https://ci.example"), etag=created.etag)
    )
    inline = store.create_issuer(TrustedIssuer(issuer="https://k8s.example", jwks_json='{"keys":[]}'))
    assert store.get_issuer("https://k8s.example") == inline


def test_create_issuer_with_a_taken_url_raises_already_exists(store: Store) -> None:
    """A duplicate issuer URL is refused and the first one is kept."""
    created = store.create_issuer(issuer("https://ci.example"))
    with pytest.raises(AlreadyExists):
        store.create_issuer(issuer("https://ci.example", audience="other"))
    assert store.get_issuer("https://ci.example") == created


def test_list_issuers_pages_in_url_order(store: Store) -> None:
    """Issuers list by URL, ``after`` continuing where the last page stopped."""
    urls = [f"https://issuer-{i}.example" for i in range(5)]
    for url in reversed(urls):
        store.create_issuer(issuer(url))
    first = store.list_issuers(after="", limit=3)
    assert [i.issuer for i in first] == urls[:3]
    assert [i.issuer for i in store.list_issuers(after=first[-1].issuer, limit=3)] == urls[3:]


def test_delete_issuer_removes_it_and_a_missing_one_is_not_found(store: Store) -> None:
    """Delete removes; deleting or reading an absent issuer is NotFound."""
    store.create_issuer(issuer("https://ci.example"))
    store.delete_issuer("https://ci.example")
    with pytest.raises(NotFound):
        store.get_issuer("https://ci.example")
    with pytest.raises(NotFound):
        store.delete_issuer("https://ci.example")


# leader lease ---------------------------------------------------------------------


def test_lease_is_exclusive_while_live_and_renewable_by_its_holder(store: Store) -> None:
    """The first holder gets token 1 and keeps it on renewal; another holder gets None meanwhile."""
    assert store.acquire_lease("scheduler", "replica-a", ttl=TTL, now=NOW) == 1
    assert store.acquire_lease("scheduler", "replica-b", ttl=TTL, now=NOW + timedelta(seconds=10)) is None
    assert store.acquire_lease("scheduler", "replica-a", ttl=TTL, now=NOW + timedelta(seconds=20)) == 1
    # renewed at +20s, so still live at +40s
    assert store.acquire_lease("scheduler", "replica-b", ttl=TTL, now=NOW + timedelta(seconds=40)) is None
    assert store.acquire_lease("other-job", "replica-b", ttl=TTL, now=NOW) == 1


def test_an_expired_lease_passes_to_a_new_holder_with_a_higher_token(store: Store) -> None:
    """After expiry another holder takes over and the fencing token grows."""
    store.acquire_lease("scheduler", "replica-a", ttl=TTL, now=NOW)
    assert store.acquire_lease("scheduler", "replica-b", ttl=TTL, now=NOW + TTL) == 2
    assert store.acquire_lease("scheduler", "replica-a", ttl=TTL, now=NOW + TTL) is None
    assert store.acquire_lease("scheduler", "replica-a", ttl=TTL, now=NOW + 2 * TTL) == 3


def test_release_frees_the_lease_only_for_its_holder(store: Store) -> None:
    """Release by a non-holder does nothing; release by the holder lets others in at once."""
    store.acquire_lease("scheduler", "replica-a", ttl=TTL, now=NOW)
    store.release_lease("scheduler", "replica-b")
    assert store.acquire_lease("scheduler", "replica-b", ttl=TTL, now=NOW) is None
    store.release_lease("scheduler", "replica-a")
    assert store.acquire_lease("scheduler", "replica-b", ttl=TTL, now=NOW) == 2
    store.release_lease("never-taken", "replica-a")


def test_replicas_racing_for_a_free_lease_elect_exactly_one(store: Store) -> None:
    """Eight replicas acquiring at once: one token, seven Nones."""
    tokens = race(8, lambda i: store.acquire_lease("scheduler", f"replica-{i}", ttl=TTL, now=NOW))
    assert sorted(tokens, key=lambda t: t is None) == [1] + [None] * 7
