"""The Store contract for rotating secrets: versions, rotation, expiry, destruction, events."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta

import pytest

from broker.core.errors import AlreadyExists, Conflict, NotFound
from broker.core.generators import Generator
from broker.core.secrets import EventType, RotationPolicy, Secret, SecretEvent, SecretVersion, VersionState
from broker.core.sensitive import Sensitive
from broker.store.base import Store
from broker.store.sealing import Sealer

from .conftest import TEST_KEK, Backend, race
from .test_contract import signing_key

NOW = datetime(2030, 1, 1, tzinfo=UTC)
GRACE = timedelta(hours=1)
RETENTION = timedelta(days=1)


def secret(secret_id: str, **changes: object) -> Secret:
    """An API-key secret rotating monthly, one hour of grace, one day of retention."""
    base = Secret(
        id=secret_id,
        generator=Generator.API_KEY,
        length=32,
        policy=RotationPolicy(interval=timedelta(days=30), grace_period=GRACE, retention=RETENTION),
        next_rotation_time=NOW + timedelta(days=30),
        create_time=NOW,
        update_time=NOW,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]  # one type for every field's override


def version(secret_id: str, number: int, at: datetime = NOW) -> SecretVersion:
    """Version ``number`` of a secret, created at ``at``, with a recognisable value."""
    value = f"value-{secret_id}-{number}".encode()
    return SecretVersion(
        secret_id=secret_id, version=number, state=VersionState.CURRENT, create_time=at, value=Sensitive(value)
    )


def create(store: Store, secret_id: str) -> Secret:
    """Create a secret with its first version."""
    return store.create_secret(secret(secret_id), version(secret_id, 1))


def rotate(store: Store, secret_id: str, to: int, at: datetime) -> Secret:
    """Rotate from version ``to - 1`` to ``to`` at ``at``."""
    return store.rotate_secret(
        secret_id,
        expected_version=to - 1,
        new=version(secret_id, to, at),
        grace_expire_time=at + GRACE,
        next_rotation_time=at + timedelta(days=30),
    )


# create / read / list / update ----------------------------------------------------


def test_create_secret_then_read_metadata_and_first_version(store: Store) -> None:
    """The secret reads back with current_version 1 and an etag; version 1 holds the value."""
    created = create(store, "db-password")
    assert created == dataclasses.replace(secret("db-password"), current_version=1, etag=created.etag)
    assert created.etag
    assert store.get_secret("db-password") == created
    assert store.get_secret_version("db-password", 1) == version("db-password", 1)


def test_create_secret_with_a_taken_id_raises_already_exists(store: Store) -> None:
    """A duplicate id is refused and the existing value is untouched."""
    created = create(store, "db")
    with pytest.raises(AlreadyExists):
        store.create_secret(secret("db", length=64), dataclasses.replace(version("db", 1), value=Sensitive(b"x")))
    assert store.get_secret("db") == created
    assert store.get_secret_version("db", 1) == version("db", 1)


def test_unknown_secrets_and_versions_raise_not_found(store: Store) -> None:
    """Reading a missing secret, or a missing version of an existing one, is NotFound."""
    create(store, "db")
    with pytest.raises(NotFound):
        store.get_secret("nope")
    with pytest.raises(NotFound):
        store.get_secret_version("db", 2)
    with pytest.raises(NotFound):
        store.list_secret_versions("nope", before=0, limit=10)


def test_secret_values_are_sealed_at_rest(backend: Backend) -> None:
    """No version's value appears in the stored bytes."""
    create(backend.store, "db")
    rotate(backend.store, "db", 2, NOW + timedelta(days=1))
    raw = backend.raw_dump()
    assert b"db" in raw
    assert b"value-db-1" not in raw
    assert b"value-db-2" not in raw


def test_list_secrets_pages_in_id_order(store: Store) -> None:
    """Secrets list by id, ``after`` continuing where the last page stopped."""
    for secret_id in ("c", "a", "d", "b", "e"):
        create(store, secret_id)
    first = store.list_secrets(after="", limit=3)
    assert [s.id for s in first] == ["a", "b", "c"]
    assert [s.id for s in store.list_secrets(after=first[-1].id, limit=3)] == ["d", "e"]


def test_update_secret_is_compare_and_set(store: Store) -> None:
    """The current etag replaces policy and schedule; a stale one is Conflict; a missing id NotFound."""
    created = create(store, "db")
    changed = dataclasses.replace(
        created,
        policy=RotationPolicy(interval=None, grace_period=timedelta(minutes=5), retention=timedelta(0)),
        next_rotation_time=None,
        update_time=NOW + timedelta(minutes=1),
    )
    updated = store.update_secret(changed, expected_etag=created.etag)
    assert updated == dataclasses.replace(changed, etag=updated.etag)
    assert updated.etag != created.etag
    assert store.get_secret("db") == updated
    with pytest.raises(Conflict):
        store.update_secret(changed, expected_etag=created.etag)
    with pytest.raises(NotFound):
        store.update_secret(secret("nope"), expected_etag="1")


# rotation -----------------------------------------------------------------------


def test_rotation_makes_the_new_version_current_and_the_old_one_previous(store: Store) -> None:
    """One step: version 2 CURRENT, version 1 PREVIOUS until its grace end, schedule moved, etag changed."""
    created = create(store, "db")
    at = NOW + timedelta(days=30)
    rotated = rotate(store, "db", 2, at)
    assert rotated.current_version == 2
    assert rotated.next_rotation_time == at + timedelta(days=30)
    assert rotated.etag != created.etag
    assert store.get_secret("db") == rotated
    assert store.get_secret_version("db", 2) == version("db", 2, at)
    old = store.get_secret_version("db", 1)
    assert (old.state, old.grace_expire_time, old.value) == (VersionState.PREVIOUS, at + GRACE, version("db", 1).value)


def test_rotation_from_a_stale_version_raises_conflict_and_changes_nothing(store: Store) -> None:
    """Compare-and-set on the current version: the second rotation from version 1 loses."""
    create(store, "db")
    rotated = rotate(store, "db", 2, NOW + timedelta(days=1))
    with pytest.raises(Conflict):
        store.rotate_secret(
            "db",
            expected_version=1,
            new=version("db", 2, NOW + timedelta(days=2)),
            grace_expire_time=NOW + timedelta(days=3),
            next_rotation_time=None,
        )
    assert store.get_secret("db") == rotated
    assert store.get_secret_version("db", 2) == version("db", 2, NOW + timedelta(days=1))
    with pytest.raises(NotFound):
        rotate(store, "nope", 2, NOW)


def test_concurrent_rotations_from_one_version_let_exactly_one_win(store: Store) -> None:
    """Eight rotators racing from version 1: one succeeds, the others get Conflict, one event."""
    create(store, "db")

    def attempt(_: int) -> str:
        try:
            rotate(store, "db", 2, NOW + timedelta(days=1))
        except Conflict:
            return "conflict"
        return "won"

    assert sorted(race(8, attempt)) == ["conflict"] * 7 + ["won"]
    assert [e.type for e in store.list_secret_events(after_seq=0, limit=10)] == [EventType.ROTATED]


def test_versions_list_newest_first_without_values(store: Store) -> None:
    """Versions page newest first below ``before`` and never carry values."""
    create(store, "db")
    for n in range(2, 6):
        rotate(store, "db", n, NOW + timedelta(days=n))
    page = store.list_secret_versions("db", before=0, limit=3)
    assert [(v.version, v.state) for v in page] == [
        (5, VersionState.CURRENT),
        (4, VersionState.PREVIOUS),
        (3, VersionState.PREVIOUS),
    ]
    assert all(v.value is None for v in page)
    assert [v.version for v in store.list_secret_versions("db", before=3, limit=3)] == [2, 1]


# expiry and destruction ---------------------------------------------------------


def test_expiry_turns_previous_versions_expired_once_their_grace_ended(store: Store) -> None:
    """Only versions whose grace ended by ``now`` expire, each with one GRACE_EXPIRED event, once."""
    create(store, "db")
    rotated_at = NOW + timedelta(days=1)
    rotate(store, "db", 2, rotated_at)
    assert store.expire_secret_versions(rotated_at + GRACE - timedelta(seconds=1)) == []

    later = rotated_at + GRACE
    events = store.expire_secret_versions(later)
    assert [(e.secret_id, e.type, e.version, e.current_version, e.event_time) for e in events] == [
        ("db", EventType.GRACE_EXPIRED, 1, 2, later)
    ]
    expired = store.get_secret_version("db", 1)
    assert (expired.state, expired.expire_time, expired.destroyed) == (VersionState.EXPIRED, later, False)
    assert store.expire_secret_versions(later + timedelta(hours=1)) == []


def test_material_is_destroyed_only_after_retention(store: Store) -> None:
    """Expired values stay until expire_time + retention, then are erased and counted once."""
    create(store, "db")
    rotated_at = NOW + timedelta(days=1)
    rotate(store, "db", 2, rotated_at)
    expired_at = rotated_at + GRACE
    store.expire_secret_versions(expired_at)

    assert store.destroy_expired_material(expired_at + RETENTION - timedelta(seconds=1)) == 0
    assert store.get_secret_version("db", 1).value == version("db", 1).value
    assert store.destroy_expired_material(expired_at + RETENTION) == 1
    destroyed = store.get_secret_version("db", 1)
    assert (destroyed.destroyed, destroyed.value) == (True, None)
    assert store.get_secret_version("db", 2).value == version("db", 2).value
    assert store.destroy_expired_material(expired_at + RETENTION * 2) == 0


def test_due_secrets_are_those_scheduled_at_or_before_now(store: Store) -> None:
    """Secrets due by ``now`` come most overdue first; unscheduled ones never."""
    store.create_secret(secret("later", next_rotation_time=NOW + timedelta(hours=2)), version("later", 1))
    store.create_secret(secret("first", next_rotation_time=NOW - timedelta(hours=1)), version("first", 1))
    store.create_secret(secret("exact", next_rotation_time=NOW), version("exact", 1))
    store.create_secret(secret("manual", next_rotation_time=None), version("manual", 1))
    assert [s.id for s in store.due_secrets(NOW, 10)] == ["first", "exact"]
    assert [s.id for s in store.due_secrets(NOW, 1)] == ["first"]


# deletion and events --------------------------------------------------------------


def test_delete_secret_removes_every_version_and_records_deleted(store: Store) -> None:
    """Deleting drops metadata and all versions; a new secret of the same id starts clean."""
    create(store, "db")
    rotate(store, "db", 2, NOW + timedelta(days=1))
    store.delete_secret("db", expected_etag=None, now=NOW + timedelta(days=2))
    with pytest.raises(NotFound):
        store.get_secret("db")
    with pytest.raises(NotFound):
        store.get_secret_version("db", 1)
    last = store.list_secret_events(after_seq=0, limit=10)[-1]
    assert (last.secret_id, last.type, last.version, last.event_time) == (
        "db",
        EventType.DELETED,
        2,
        NOW + timedelta(days=2),
    )
    create(store, "db")
    assert [v.version for v in store.list_secret_versions("db", before=0, limit=10)] == [1]


def test_delete_secret_with_a_stale_etag_raises_conflict(store: Store) -> None:
    """A stale etag keeps the secret; a missing secret is NotFound."""
    created = create(store, "db")
    rotated = rotate(store, "db", 2, NOW + timedelta(days=1))
    with pytest.raises(Conflict):
        store.delete_secret("db", expected_etag=created.etag, now=NOW)
    assert store.get_secret("db") == rotated
    store.delete_secret("db", expected_etag=rotated.etag, now=NOW)
    with pytest.raises(NotFound):
        store.delete_secret("db", expected_etag=None, now=NOW)


def test_events_page_in_seq_order_from_one_gapless_sequence(store: Store) -> None:
    """Every event type shares one sequence: 1, 2, 3 ... with ``after_seq`` paging."""
    assert store.last_secret_event_seq() == 0
    create(store, "a")
    create(store, "b")
    rotate(store, "a", 2, NOW + timedelta(days=1))
    rotate(store, "b", 2, NOW + timedelta(days=1))
    store.expire_secret_versions(NOW + timedelta(days=2))
    store.delete_secret("b", expected_etag=None, now=NOW + timedelta(days=3))

    events = store.list_secret_events(after_seq=0, limit=100)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [(e.secret_id, e.type) for e in events] == [
        ("a", EventType.ROTATED),
        ("b", EventType.ROTATED),
        ("a", EventType.GRACE_EXPIRED),
        ("b", EventType.GRACE_EXPIRED),
        ("b", EventType.DELETED),
    ]
    assert store.last_secret_event_seq() == 5
    assert store.list_secret_events(after_seq=2, limit=2) == events[2:4]
    assert store.list_secret_events(after_seq=5, limit=10) == []


def test_concurrent_rotations_of_different_secrets_get_distinct_consecutive_seqs(store: Store) -> None:
    """Eight secrets rotating at once: eight events numbered 1..8, none lost, none twice."""
    for i in range(8):
        create(store, f"s{i}")
    results = race(8, lambda i: rotate(store, f"s{i}", 2, NOW + timedelta(days=1)))
    assert all(r.current_version == 2 for r in results)
    events: list[SecretEvent] = store.list_secret_events(after_seq=0, limit=100)
    assert [e.seq for e in events] == list(range(1, 9))
    assert sorted(e.secret_id for e in events) == [f"s{i}" for i in range(8)]


def test_kek_rotation_moves_every_sealed_blob_to_the_new_key(backend: Backend) -> None:
    """Written under the old KEK; [new, old] reads it all and moves it in bounded batches;
    then new alone reads the signing key and every secret value."""
    store = backend.store
    store.add_signing_key(signing_key("sk"))
    create(store, "db")
    new = os.urandom(32)
    rotating = backend.reopen(Sealer(new, [TEST_KEK]))
    assert rotating.list_signing_keys()[0].private_pem == store.list_signing_keys()[0].private_pem
    assert rotating.rewrap_sealed(limit=1) == 1
    assert rotating.rewrap_sealed(limit=10) == 1
    assert rotating.rewrap_sealed(limit=10) == 0
    moved = backend.reopen(Sealer(new))
    assert [k.kid for k in moved.list_signing_keys()] == ["sk"]
    assert moved.get_secret_version("db", 1).value == Sensitive(b"value-db-1")
    assert store.rewrap_sealed(limit=10) == 0  # one KEK: nothing to do
