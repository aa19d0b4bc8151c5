"""The Store contract: every backend passes the same tests, through the Store protocol only."""

from __future__ import annotations

import dataclasses
import itertools
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from broker.core.audit import AuditEvent, AuditFilter, ChainHead, chain_hash, event_id
from broker.core.errors import AlreadyExists, Conflict, FailedPrecondition, NotFound, Unavailable
from broker.core.identities import Binding, Identity, IdentityFilter, IdentityKey, IdentityKind
from broker.core.keys import SigningKeyRecord
from broker.core.sensitive import Sensitive
from broker.store.base import Store
from broker.store.sealing import Sealer

from .conftest import TEST_KEK, UNREACHABLE_PASSWORD, Backend, race

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def identity(identity_id: str, **changes: object) -> Identity:
    """A service account with every field set to something non-default."""
    base = Identity(
        id=identity_id,
        kind=IdentityKind.SERVICE_ACCOUNT,
        tenant="acme",
        display_name=f"The {identity_id} service",
        allowed_scopes=("orders.read", "orders.write"),
        allowed_audiences=("https://api.example.com",),
        max_token_ttl=timedelta(minutes=15),
        bindings=(
            Binding(
                issuer="https://kubernetes.default.svc",
                subject=f"system:serviceaccount:shop:{identity_id}",
                required_claims={"kubernetes.io.namespace": "shop"},
            ),
        ),
        public_keys=(
            IdentityKey(
                kid="k1",
                jwk={"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
                create_time=NOW,
                expire_time=NOW + timedelta(days=30),
            ),
        ),
        create_time=NOW,
        update_time=NOW,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]  # one type for every field's override


def signing_key(kid: str, activate_time: datetime = NOW) -> SigningKeyRecord:
    """A real ES256 private key as the keyring would store it."""
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningKeyRecord(
        kid=kid, alg="ES256", private_pem=Sensitive(pem), create_time=NOW, activate_time=activate_time
    )


def audit(seconds: int, **changes: object) -> AuditEvent:
    """An audit event ``seconds`` after NOW, with a sortable id of that time, at seq seconds + 1."""
    when = NOW + timedelta(seconds=seconds)
    base = AuditEvent(
        seq=seconds + 1,
        prev_hash=f"{seconds:064x}",
        hash=f"{seconds + 1:064x}",
        client_address="ipv4:127.0.0.1:5000",
        replica="host/1",
        subject="person",
        id=event_id(when),
        event_time=when,
        action="identity.create",
        actor="admin",
        target=f"identity/{seconds}",
        outcome="success",
        request_id=f"req-{seconds}",
        details={"fields": ["display_name"], "n": seconds},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]  # one type for every field's override


# identities -----------------------------------------------------------------------


def test_create_then_get_returns_the_same_identity(store: Store) -> None:
    """Every field survives a create/get round trip and the store assigns an etag."""
    created = store.create_identity(identity("orders"))
    assert created.etag
    assert created == dataclasses.replace(identity("orders"), etag=created.etag)
    assert store.get_identity("orders") == created


def test_create_keeps_an_agent_with_minimal_fields(store: Store) -> None:
    """An identity with empty lists and no TTL comes back with empty tuples and None."""
    agent = Identity(id="bot", kind=IdentityKind.AI_AGENT, delegable_scopes=("mail.read",), disabled=True)
    created = store.create_identity(agent)
    assert store.get_identity("bot") == created == dataclasses.replace(agent, etag=created.etag)


def test_create_with_a_taken_id_raises_already_exists(store: Store) -> None:
    """A duplicate id is refused and the first identity is left as it was."""
    first = store.create_identity(identity("orders"))
    with pytest.raises(AlreadyExists):
        store.create_identity(identity("orders", display_name="impostor"))
    assert store.get_identity("orders") == first


def test_get_of_an_unknown_id_raises_not_found(store: Store) -> None:
    """Reading an identity that was never created is NotFound."""
    with pytest.raises(NotFound):
        store.get_identity("nobody")


def test_list_pages_through_identities_in_id_order(store: Store) -> None:
    """25 identities come back in pages of 10, 10 and 5, ordered by id, none twice."""
    ids = [f"svc-{i:02d}" for i in range(25)]
    for i in reversed(ids):
        store.create_identity(identity(i))
    pages: list[list[str]] = []
    after = ""
    while True:
        page = [i.id for i in store.list_identities(after=after, limit=10, flt=IdentityFilter())]
        if not page:
            break
        pages.append(page)
        after = page[-1]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for page in pages for i in page] == ids


def test_list_filters_by_kind_tenant_and_disabled(store: Store) -> None:
    """Each filter term narrows the list; terms combine with AND."""
    store.create_identity(identity("a", kind=IdentityKind.AI_AGENT, tenant="acme"))
    store.create_identity(identity("b", kind=IdentityKind.AI_AGENT, tenant="other", disabled=True))
    store.create_identity(identity("c", tenant="acme", disabled=True))
    store.create_identity(identity("d", tenant="other"))

    def ids(flt: IdentityFilter) -> list[str]:
        return [i.id for i in store.list_identities(after="", limit=100, flt=flt)]

    assert ids(IdentityFilter()) == ["a", "b", "c", "d"]
    assert ids(IdentityFilter(kind=IdentityKind.AI_AGENT)) == ["a", "b"]
    assert ids(IdentityFilter(tenant="acme")) == ["a", "c"]
    assert ids(IdentityFilter(disabled=True)) == ["b", "c"]
    assert ids(IdentityFilter(disabled=False)) == ["a", "d"]
    assert ids(IdentityFilter(kind=IdentityKind.SERVICE_ACCOUNT, tenant="other", disabled=False)) == ["d"]
    assert ids(IdentityFilter(tenant="nobody")) == []


def test_update_with_the_current_etag_replaces_and_changes_the_etag(store: Store) -> None:
    """A matching etag lets the update through; the result and a fresh read agree."""
    created = store.create_identity(identity("orders"))
    changed = dataclasses.replace(created, display_name="Orders v2", allowed_scopes=("orders.read",), disabled=True)
    updated = store.update_identity(changed, expected_etag=created.etag)
    assert updated.etag not in ("", created.etag)
    assert store.get_identity("orders") == updated == dataclasses.replace(changed, etag=updated.etag)


def test_update_with_a_stale_etag_raises_conflict_and_changes_nothing(store: Store) -> None:
    """Compare-and-set: the second writer holding the old etag loses."""
    created = store.create_identity(identity("orders"))
    winner = store.update_identity(dataclasses.replace(created, display_name="first"), expected_etag=created.etag)
    with pytest.raises(Conflict, match="etag"):
        store.update_identity(dataclasses.replace(created, display_name="second"), expected_etag=created.etag)
    with pytest.raises(Conflict):
        store.update_identity(dataclasses.replace(created, display_name="third"), expected_etag="not-an-etag")
    assert store.get_identity("orders") == winner


def test_update_of_an_unknown_id_raises_not_found(store: Store) -> None:
    """Updating an identity that does not exist is NotFound, not Conflict."""
    with pytest.raises(NotFound):
        store.update_identity(identity("ghost"), expected_etag="1")


def test_concurrent_updates_with_one_etag_let_exactly_one_win(store: Store) -> None:
    """Eight writers racing with the same etag: one succeeds, seven get Conflict."""
    created = store.create_identity(identity("orders"))

    def attempt(i: int) -> str:
        try:
            store.update_identity(dataclasses.replace(created, display_name=f"w{i}"), expected_etag=created.etag)
        except Conflict:
            return "conflict"
        return "won"

    outcomes = race(8, attempt)
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]


def test_delete_without_an_etag_removes_the_identity(store: Store) -> None:
    """An unconditional delete removes the row; a second delete is NotFound."""
    store.create_identity(identity("orders"))
    store.delete_identity("orders", expected_etag=None)
    with pytest.raises(NotFound):
        store.get_identity("orders")
    with pytest.raises(NotFound):
        store.delete_identity("orders", expected_etag=None)


def test_delete_with_an_etag_is_compare_and_set(store: Store) -> None:
    """A stale etag is Conflict and keeps the row; the current etag deletes it."""
    created = store.create_identity(identity("orders"))
    updated = store.update_identity(dataclasses.replace(created, display_name="v2"), expected_etag=created.etag)
    with pytest.raises(Conflict):
        store.delete_identity("orders", expected_etag=created.etag)
    assert store.get_identity("orders") == updated
    store.delete_identity("orders", expected_etag=updated.etag)
    with pytest.raises(NotFound):
        store.get_identity("orders")


def test_delete_with_an_etag_of_an_unknown_id_raises_not_found(store: Store) -> None:
    """Deleting a missing identity is NotFound whether or not an etag is given."""
    with pytest.raises(NotFound):
        store.delete_identity("ghost", expected_etag="1")


def test_datetimes_come_back_timezone_aware_in_utc(store: Store) -> None:
    """Times written with any offset are read back as the same instant, aware, in UTC."""
    plus_five = timezone(timedelta(hours=5, minutes=30))
    when = datetime(2031, 6, 15, 12, 30, 45, 123456, tzinfo=plus_five)
    key = IdentityKey(kid="k", jwk={"kty": "OKP"}, create_time=when, expire_time=when + timedelta(hours=1))
    store.create_identity(identity("timed", create_time=when, update_time=when, public_keys=(key,)))
    store.add_signing_key(signing_key("sk", activate_time=when))
    store.append_audit_events([audit(1, event_time=when)])

    got = store.get_identity("timed")
    record = store.list_signing_keys()[0]
    event = store.list_audit_events(before="", limit=1, flt=AuditFilter())[0]
    times = [
        got.create_time,
        got.update_time,
        got.public_keys[0].create_time,
        got.public_keys[0].expire_time,
        record.activate_time,
        event.event_time,
    ]
    for value in times:
        assert value is not None
        assert value.utcoffset() == timedelta(0)
    assert got.create_time == when
    assert got.public_keys[0].expire_time == when + timedelta(hours=1)
    assert record.activate_time == when
    assert event.event_time == when


# signing keys ---------------------------------------------------------------------


def test_signing_keys_round_trip_unsealed(store: Store) -> None:
    """A stored key lists back equal, private PEM included, oldest activation first."""
    later = signing_key("later", activate_time=NOW + timedelta(days=1))
    first = signing_key("first")
    store.add_signing_key(later)
    store.add_signing_key(first)
    assert store.list_signing_keys() == [first, later]


def test_signing_keys_are_sealed_at_rest(backend: Backend) -> None:
    """The private key's PEM (or any line of it) is nowhere in the stored bytes."""
    record = signing_key("kid-sealed-at-rest")
    backend.store.add_signing_key(record)
    raw = backend.raw_dump()
    assert b"kid-sealed-at-rest" in raw  # the dump does see the row
    pem = record.private_pem.reveal()
    for line in pem.splitlines():
        assert line not in raw


def test_signing_keys_do_not_open_under_another_kek(backend: Backend) -> None:
    """A store opened with a different KEK refuses to unseal with FailedPrecondition."""
    backend.store.add_signing_key(signing_key("sk"))
    other = backend.reopen(Sealer(bytes(32)))
    with pytest.raises(FailedPrecondition, match="key-encryption key does not match"):
        other.list_signing_keys()


def test_adding_a_taken_kid_raises_already_exists(store: Store) -> None:
    """Signing keys are never silently replaced."""
    first = signing_key("sk")
    store.add_signing_key(first)
    with pytest.raises(AlreadyExists):
        store.add_signing_key(signing_key("sk"))
    assert store.list_signing_keys() == [first]


def test_deleting_a_signing_key_is_idempotent(store: Store) -> None:
    """Delete removes the key; deleting an absent kid is fine."""
    store.add_signing_key(signing_key("sk"))
    store.delete_signing_key("sk")
    store.delete_signing_key("sk")
    store.delete_signing_key("never-there")
    assert store.list_signing_keys() == []


# replay protection ----------------------------------------------------------------


def test_consume_jti_succeeds_once_until_expiry(store: Store) -> None:
    """The first use is accepted, a replay before expiry is refused."""
    expires = NOW + timedelta(minutes=5)
    assert store.consume_jti("iss|jti-1", expires, NOW) is True
    assert store.consume_jti("iss|jti-1", expires, NOW) is False
    assert store.consume_jti("iss|jti-1", expires, NOW + timedelta(minutes=4)) is False
    assert store.consume_jti("iss|jti-2", expires, NOW) is True


def test_consume_jti_accepts_a_key_again_once_its_record_expired(store: Store) -> None:
    """At and after expires_at the old record no longer blocks; the new one does."""
    store.consume_jti("k", NOW + timedelta(minutes=5), NOW)
    later = NOW + timedelta(minutes=5)
    assert store.consume_jti("k", later + timedelta(minutes=5), later) is True
    assert store.consume_jti("k", later + timedelta(minutes=5), later + timedelta(minutes=1)) is False


def test_consume_jti_race_has_exactly_one_winner(store: Store) -> None:
    """16 threads consuming the same key at once: exactly one gets True."""
    results = race(16, lambda _: store.consume_jti("raced", NOW + timedelta(minutes=5), NOW))
    assert results.count(True) == 1


def test_consume_jti_race_on_an_expired_record_has_exactly_one_winner(store: Store) -> None:
    """Replacing an expired record is race-free too."""
    store.consume_jti("raced", NOW + timedelta(seconds=1), NOW)
    later = NOW + timedelta(minutes=1)
    results = race(16, lambda _: store.consume_jti("raced", later + timedelta(minutes=5), later))
    assert results.count(True) == 1


def test_consume_jti_of_distinct_keys_in_parallel_all_succeed(store: Store) -> None:
    """Different keys never block each other."""
    assert race(16, lambda i: store.consume_jti(f"key-{i}", NOW + timedelta(minutes=5), NOW)) == [True] * 16


# revocation -----------------------------------------------------------------------


def test_revocation_holds_until_its_expiry(store: Store) -> None:
    """A revoked jti reads revoked before expires_at and not from expires_at on."""
    store.revoke_token("jti-1", NOW + timedelta(minutes=5))
    assert store.is_token_revoked("jti-1", NOW) is True
    assert store.is_token_revoked("jti-1", NOW + timedelta(minutes=4, seconds=59)) is True
    assert store.is_token_revoked("jti-1", NOW + timedelta(minutes=5)) is False
    assert store.is_token_revoked("other", NOW) is False


def test_revoking_again_is_idempotent_and_keeps_the_later_expiry(store: Store) -> None:
    """Repeating a revocation never shortens it; a later expiry extends it."""
    store.revoke_token("jti-1", NOW + timedelta(minutes=10))
    store.revoke_token("jti-1", NOW + timedelta(minutes=10))
    store.revoke_token("jti-1", NOW + timedelta(minutes=1))
    assert store.is_token_revoked("jti-1", NOW + timedelta(minutes=9)) is True
    store.revoke_token("jti-1", NOW + timedelta(minutes=20))
    assert store.is_token_revoked("jti-1", NOW + timedelta(minutes=19)) is True


def test_purge_expired_removes_only_expired_records_and_counts_them(store: Store) -> None:
    """Purge drops expired replay and revocation records, keeps live ones, returns the count."""
    store.consume_jti("old-1", NOW + timedelta(minutes=1), NOW)
    store.consume_jti("old-2", NOW + timedelta(minutes=2), NOW)
    store.consume_jti("live", NOW + timedelta(hours=1), NOW)
    store.revoke_token("old-r", NOW + timedelta(minutes=2))
    store.revoke_token("live-r", NOW + timedelta(hours=1))
    later = NOW + timedelta(minutes=2)

    assert store.purge_expired(later) == 3
    assert store.purge_expired(later) == 0
    assert store.consume_jti("live", NOW + timedelta(hours=2), later) is False
    assert store.is_token_revoked("live-r", later) is True


# audit ----------------------------------------------------------------------------


def append(store: Store, *drafts: AuditEvent) -> list[AuditEvent]:
    """The drafts as the store chained and stored them, one call each."""
    return [event for draft in drafts for event in store.append_audit_events([draft])]


def test_audit_events_list_newest_first_in_pages(store: Store) -> None:
    """25 events page back newest first in pages of 10, 10 and 5, each once."""
    events = append(store, *(audit(i) for i in range(25)))
    seen: list[AuditEvent] = []
    before = ""
    while page := store.list_audit_events(before=before, limit=10, flt=AuditFilter()):
        assert len(page) <= 10
        seen.extend(page)
        before = page[-1].id
    assert seen == list(reversed(events))


def test_audit_events_filter_by_equality(store: Store) -> None:
    """action, actor, subject, target and outcome filters each narrow the list and combine."""
    append(
        store,
        audit(1, action="token.exchange", actor="svc-a", outcome="success"),
        audit(2, action="token.exchange", actor="svc-b", outcome="denied"),
        audit(3, action="identity.delete", actor="admin", target="identity/x"),
    )

    def seconds(flt: AuditFilter) -> list[str]:
        return [e.request_id for e in store.list_audit_events(before="", limit=10, flt=flt)]

    assert seconds(AuditFilter()) == ["req-3", "req-2", "req-1"]
    assert seconds(AuditFilter(action="token.exchange")) == ["req-2", "req-1"]
    assert seconds(AuditFilter(actor="svc-a")) == ["req-1"]
    assert seconds(AuditFilter(target="identity/x")) == ["req-3"]
    assert seconds(AuditFilter(outcome="denied")) == ["req-2"]
    assert seconds(AuditFilter(action="token.exchange", outcome="success")) == ["req-1"]
    assert seconds(AuditFilter(actor="nobody")) == []
    assert seconds(AuditFilter(subject="person", actor="svc-b")) == ["req-2"]


def test_audit_event_round_trips_with_structured_details(store: Store) -> None:
    """Every field, nested details included, reads back equal to what the append returned."""
    (event,) = append(store, audit(7, details={"paths": ["a", "b"], "nested": {"count": 2, "ok": True, "none": None}}))
    assert store.list_audit_events(before="", limit=5, flt=AuditFilter()) == [event]
    assert store.list_audit_events(before=event.id, limit=5, flt=AuditFilter()) == []


def test_appended_events_are_chained_onto_the_head_whatever_seq_they_came_with(store: Store) -> None:
    """The store numbers and links: seqs 1.., each prev_hash the hash before, each hash its own."""
    assert store.audit_chain_head() == ChainHead(0, "")
    events = append(store, *(audit(i, seq=99) for i in range(4))) + store.append_audit_events(
        [audit(10 + i) for i in range(3)]
    )
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6, 7]
    assert [e.prev_hash for e in events] == ["", *(e.hash for e in events[:-1])]
    assert all(e.hash == chain_hash(e) for e in events)
    assert store.audit_chain_head() == ChainHead(7, events[-1].hash)
    assert store.read_audit_chain(after=0, limit=4) == events[:4]
    assert store.read_audit_chain(after=4, limit=4) == events[4:]


def test_writers_appending_at_once_keep_one_gapless_chain(backend: Backend) -> None:
    """Four stores on the same data append 10 batches each at the same time: one chain, seqs 1..80."""
    stores = [backend.reopen(Sealer(TEST_KEK)) for _ in range(4)]
    race(4, lambda n: [stores[n].append_audit_events([audit(n * 100 + i), audit(n * 100 + 50 + i)]) for i in range(10)])
    chain = backend.store.read_audit_chain(after=0, limit=200)
    assert [e.seq for e in chain] == list(range(1, 81))
    assert all(b.prev_hash == a.hash and b.hash == chain_hash(b) for a, b in itertools.pairwise(chain))


def test_audit_purge_takes_the_oldest_and_never_the_head(store: Store) -> None:
    """Purging everything older than the future leaves the newest event, so the chain goes on from it."""
    events = append(store, *(audit(i) for i in range(5)))
    assert store.purge_audit_events(NOW + timedelta(days=1), limit=2) == 2
    assert [e.seq for e in store.read_audit_chain(after=0, limit=10)] == [3, 4, 5]
    assert store.purge_audit_events(NOW + timedelta(days=1), limit=10) == 2
    assert store.read_audit_chain(after=0, limit=10) == [events[-1]]
    assert store.audit_chain_head() == ChainHead(5, events[-1].hash)
    assert [e.seq for e in append(store, audit(9))] == [6]


# lifecycle ------------------------------------------------------------------------


def test_ping_succeeds_on_a_reachable_backend(store: Store) -> None:
    """ping returns quietly when the backend answers."""
    store.ping()


def test_unreachable_backend_raises_unavailable_quickly(backend: Backend) -> None:
    """Ping and reads against a backend that is not there fail fast with Unavailable, no password shown."""
    store = backend.unreachable()
    started = time.monotonic()
    with pytest.raises(Unavailable, match="store unavailable") as ping_error:
        store.ping()
    with pytest.raises(Unavailable) as read_error:
        store.get_identity("orders")
    with pytest.raises(Unavailable):
        store.consume_jtis([("jti", NOW + timedelta(minutes=5))], NOW)
    assert time.monotonic() - started < 5
    for error in (ping_error.value, read_error.value):
        assert UNREACHABLE_PASSWORD not in str(error)
        assert UNREACHABLE_PASSWORD not in repr(error)
    assert UNREACHABLE_PASSWORD not in repr(store)


def test_consume_jtis_batch_answers_each_item_once(store: Store) -> None:
    """A batch records every new key in one go; a repeat inside the batch or of an old key is refused."""
    later = NOW + timedelta(minutes=5)
    assert store.consume_jti("old", later, NOW)
    answers = store.consume_jtis([("a", later), ("b", later), ("a", later), ("old", later)], NOW)
    assert answers == [True, True, False, False]
    assert store.consume_jtis([("a", later), ("c", later)], NOW) == [False, True]
