"""The Store contract for people, their logins (refresh families) and failed-login counts."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta

import pytest

from broker.core.errors import AlreadyExists, Conflict, NotFound
from broker.core.mfa import MfaState
from broker.core.people import Person, PersonFilter
from broker.core.sensitive import Sensitive
from broker.core.sessions import RefreshFamily
from broker.core.throttle import LoginFailures
from broker.store.base import Store
from broker.store.sealing import Sealer

from .conftest import TEST_KEK, Backend, race
from .test_contract import audit

NOW = datetime(2030, 1, 1, tzinfo=UTC)
SEED = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def person(name: str, **changes: object) -> Person:
    """A person with every field set to something non-default."""
    base = Person(
        username=name,
        tenant="acme",
        display_name="Alice A.",
        allowed_scopes=("broker.admin", "files:read"),
        allowed_audiences=("https://api.example",),
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        create_time=NOW,
        update_time=NOW,
        tokens_valid_from=NOW,
        mfa_required=True,
        mfa=MfaState(seed=Sensitive(SEED), confirmed=True, last_step=63_000_000, recovery_hashes=("ab" * 32,)),
        setup_code_hash="cd" * 32,
        setup_code_expire_time=NOW + timedelta(hours=24),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]  # one type for every override


def family(family_id: str, username: str = "alice") -> RefreshFamily:
    return RefreshFamily(
        id=family_id, username=username, tenant="acme", scopes=("files:read",), audiences=("https://api.example",),
        amr=("pwd",), create_time=NOW, last_used_time=NOW, expire_time=NOW + timedelta(days=7),
    )  # fmt: skip


# people ----------------------------------------------------------------------------


def test_create_person_then_get_returns_every_field_with_an_etag(store: Store) -> None:
    """The round trip keeps every field, the password hash included."""
    created = store.create_person(person("alice"))
    assert created.etag
    assert store.get_person("alice") == created == dataclasses.replace(person("alice"), etag=created.etag)


def test_a_totp_seed_is_sealed_at_rest_and_a_person_without_one_reads_back_without(backend: Backend) -> None:
    """The seed never appears in what the backend stores; no seed stays None."""
    backend.store.create_person(person("alice"))
    assert SEED not in backend.raw_dump()
    assert backend.store.get_person("alice").mfa.seed == Sensitive(SEED)
    backend.store.create_person(person("bob", mfa=MfaState(), mfa_required=False))
    bob = backend.store.get_person("bob")
    assert bob.mfa == MfaState() and not bob.mfa_required


def test_a_taken_user_name_is_refused_and_the_first_kept(store: Store) -> None:
    """Creating a name twice raises AlreadyExists; the stored person is unchanged."""
    created = store.create_person(person("alice"))
    with pytest.raises(AlreadyExists):
        store.create_person(person("alice", display_name="Other"))
    assert store.get_person("alice") == created


def test_list_people_pages_by_name_and_filters(store: Store) -> None:
    """People list by user name from ``after``; a filter keeps the matching ones."""
    for i in range(5):
        store.create_person(person(f"user{i}", disabled=i % 2 == 1))
    assert [p.username for p in store.list_people(after="", limit=2, flt=PersonFilter())] == ["user0", "user1"]
    assert [p.username for p in store.list_people(after="user1", limit=10, flt=PersonFilter())] == [
        "user2", "user3", "user4",
    ]  # fmt: skip
    disabled = store.list_people(after="", limit=10, flt=PersonFilter(disabled=True))
    assert [p.username for p in disabled] == ["user1", "user3"]


def test_update_person_needs_the_current_etag(store: Store) -> None:
    """An update at the stored etag wins once; the same etag again is a Conflict."""
    created = store.create_person(person("alice"))
    updated = store.update_person(dataclasses.replace(created, disabled=True), expected_etag=created.etag)
    assert updated.etag != created.etag and store.get_person("alice").disabled
    with pytest.raises(Conflict):
        store.update_person(dataclasses.replace(created, display_name="late"), expected_etag=created.etag)
    with pytest.raises(NotFound):
        store.update_person(person("nobody"), expected_etag="1")


def test_concurrent_updates_at_one_etag_let_exactly_one_win(store: Store) -> None:
    """Of four racing updates at the same etag, one is stored and three get Conflict."""
    created = store.create_person(person("alice"))

    def attempt(i: int) -> str:
        try:
            store.update_person(dataclasses.replace(created, display_name=f"v{i}"), expected_etag=created.etag)
        except Conflict:
            return "conflict"
        return "won"

    assert sorted(race(4, attempt)) == ["conflict", "conflict", "conflict", "won"]


def test_delete_person_removes_it_and_a_new_one_may_take_the_name(store: Store) -> None:
    """Deleted is NotFound; deleting again is NotFound; the name can be created afresh."""
    created = store.create_person(person("alice"))
    with pytest.raises(Conflict):
        store.delete_person("alice", expected_etag="999")
    store.delete_person("alice", expected_etag=created.etag)
    with pytest.raises(NotFound):
        store.get_person("alice")
    with pytest.raises(NotFound):
        store.delete_person("alice", expected_etag=None)
    assert store.create_person(person("alice", display_name="new")).display_name == "new"


# refresh families ------------------------------------------------------------------


def test_a_refresh_token_is_found_by_its_hash_with_its_family(store: Store) -> None:
    """The first token of a family is found unused; an unknown hash finds nothing."""
    store.create_family(family("fam1"), "a" * 64)
    found = store.find_refresh_token("a" * 64)
    assert found == (family("fam1"), False)
    assert store.find_refresh_token("b" * 64) is None
    assert store.get_family("fam1") == family("fam1") and store.get_family("nope") is None


def test_rotating_a_refresh_token_uses_it_once_and_adds_the_next(store: Store) -> None:
    """After a rotation the old token reads as used, the new one as unused, the family as used now."""
    store.create_family(family("fam1"), "a" * 64)
    later = NOW + timedelta(minutes=5)
    assert store.rotate_refresh_token("a" * 64, "b" * 64, later)
    assert store.rotate_refresh_token("a" * 64, "c" * 64, later) is False
    old, new = store.find_refresh_token("a" * 64), store.find_refresh_token("b" * 64)
    assert old is not None and old[1] is True
    assert new is not None and new[1] is False and new[0].last_used_time == later
    assert store.find_refresh_token("c" * 64) is None


def test_racing_rotations_of_one_token_let_exactly_one_win(store: Store) -> None:
    """Four refreshes of the same token at once: one rotation, three refusals, one successor."""
    store.create_family(family("fam1"), "a" * 64)
    won = race(4, lambda i: store.rotate_refresh_token("a" * 64, f"{i}" * 64, NOW))
    assert sorted(won) == [False, False, False, True]
    successors = [store.find_refresh_token(f"{i}" * 64) for i in range(4)]
    assert sum(s is not None for s in successors) == 1


def test_ending_families_is_once_and_per_person(store: Store) -> None:
    """end_family ends a live family once; end_families_of ends only that person's live ones."""
    for family_id, who in (("f1", "alice"), ("f2", "alice"), ("f3", "bob")):
        store.create_family(family(family_id, who), family_id * 32)
    assert store.end_family("f1", NOW, "logout") and not store.end_family("f1", NOW, "again")
    assert not store.end_family("unknown", NOW, "logout")
    assert store.end_families_of("alice", NOW, "password reset") == 1
    ended = store.get_family("f2")
    assert ended is not None and ended.end_time == NOW and ended.end_reason == "password reset"
    first = store.get_family("f1")
    assert first is not None and first.end_reason == "logout"
    bob = store.get_family("f3")
    assert bob is not None and bob.end_time is None


# failed-login counts ----------------------------------------------------------------


def test_login_failures_are_written_compare_and_set_and_cleared(store: Store) -> None:
    """Create-only at '', then only at the stored etag; clear removes it (True once)."""
    assert store.get_login_failures("user:alice") is None
    first = store.put_login_failures(LoginFailures("user:alice", 1, NOW, NOW), expected_etag="")
    with pytest.raises(Conflict):
        store.put_login_failures(LoginFailures("user:alice", 1, NOW, NOW), expected_etag="")
    second = store.put_login_failures(dataclasses.replace(first, count=2, locked=True), expected_etag=first.etag)
    with pytest.raises(Conflict):
        store.put_login_failures(dataclasses.replace(first, count=9), expected_etag=first.etag)
    stored = store.get_login_failures("user:alice")
    assert stored == second and stored.count == 2 and stored.locked
    assert store.clear_login_failures("user:alice") and not store.clear_login_failures("user:alice")
    assert store.get_login_failures("user:alice") is None
    assert store.put_login_failures(LoginFailures("user:alice", 1, NOW, NOW), expected_etag="").count == 1


def test_kek_rotation_moves_totp_seeds_to_the_new_key(backend: Backend) -> None:
    """A seed sealed under the old KEK is rewrapped (once) and then opens with the new KEK alone;
    a person without a seed is left alone."""
    backend.store.create_person(person("alice"))
    backend.store.create_person(person("bob", mfa=MfaState()))
    new = os.urandom(32)
    rotating = backend.reopen(Sealer(new, [TEST_KEK]))
    assert rotating.rewrap_sealed(limit=10) == 1
    assert rotating.rewrap_sealed(limit=10) == 0
    assert backend.reopen(Sealer(new)).get_person("alice").mfa.seed == Sensitive(SEED)


def test_families_of_a_person_list_oldest_first_and_are_erased_with_them(store: Store) -> None:
    """list_families_of returns live and ended ones; delete_families_of erases only that person's."""
    later = dataclasses.replace(family("f2"), create_time=NOW + timedelta(hours=1))
    store.create_family(later, "2" * 64)
    store.create_family(family("f1"), "1" * 64)
    store.create_family(family("f3", "bob"), "3" * 64)
    store.end_family("f1", NOW, "logout")
    assert [f.id for f in store.list_families_of("alice")] == ["f1", "f2"]
    assert store.delete_families_of("alice") == 2
    assert store.list_families_of("alice") == [] and store.get_family("f1") is None
    assert store.find_refresh_token("2" * 64) is None
    assert [f.id for f in store.list_families_of("bob")] == ["f3"]


def test_lapsed_families_are_purged_with_their_tokens_in_bounded_batches(store: Store) -> None:
    """Families whose absolute end has passed go (their rotated tokens too); later ones stay."""
    for i in range(3):
        store.create_family(family(f"old{i}"), f"{i}" * 64)
    store.rotate_refresh_token("0" * 64, "a" * 64, NOW)
    young = dataclasses.replace(family("young"), expire_time=NOW + timedelta(days=9))
    store.create_family(young, "y" * 64)
    after = NOW + timedelta(days=7, hours=2)
    assert store.purge_families(after, limit=2) == 2
    assert store.purge_families(after, limit=10) == 1
    assert store.purge_families(after, limit=10) == 0
    assert store.find_refresh_token("a" * 64) is None and store.find_refresh_token("0" * 64) is None
    assert [f.id for f in store.list_families_of("alice")] == ["young"]


def test_closed_failure_windows_are_purged_but_lockouts_stay(store: Store) -> None:
    """Counts whose window opened before the cut go; a locked one and a recent one stay."""
    store.put_login_failures(LoginFailures("user:old", 3, NOW, NOW), expected_etag="")
    store.put_login_failures(LoginFailures("user:locked", 20, NOW, NOW, locked=True), expected_etag="")
    recent = NOW + timedelta(hours=2)
    store.put_login_failures(LoginFailures("addr:ipv4:10.0.0.1", 1, recent, recent), expected_etag="")
    purged = sum(store.purge_login_failures(NOW + timedelta(hours=1), limit=10) for _ in range(3))
    assert purged == 1
    assert store.get_login_failures("user:old") is None
    assert store.get_login_failures("user:locked") is not None
    assert store.get_login_failures("addr:ipv4:10.0.0.1") is not None


def test_an_erasure_rewrites_the_names_of_a_stored_event_and_keeps_its_place(store: Store) -> None:
    """replace_audit_event changes actor, subject, target and details; seq, id and hashes stay."""
    (stored,) = store.append_audit_events([audit(1)])
    renamed = dataclasses.replace(stored, actor="user:~ab", subject="user:~ab", target="~ab", details={"n": "~ab"})
    store.replace_audit_event(renamed)
    (read,) = store.read_audit_chain(after=0, limit=10)
    assert (read.actor, read.subject, read.target, dict(read.details)) == ("user:~ab", "user:~ab", "~ab", {"n": "~ab"})
    assert (read.seq, read.id, read.hash, read.prev_hash) == (stored.seq, stored.id, stored.hash, stored.prev_hash)
    with pytest.raises(NotFound):
        store.replace_audit_event(dataclasses.replace(stored, seq=99))
