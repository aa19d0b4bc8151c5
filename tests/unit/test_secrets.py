"""Rotating secrets with the fake clock: generators, policy validation, rotation and grace edges."""

from __future__ import annotations

import re
import threading
import zlib
from datetime import timedelta

import pytest

from broker.api.secret import generator_from_proto
from broker.core.audit import Auditor
from broker.core.clock import FakeClock
from broker.core.errors import FailedPrecondition, InvalidArgument, NotFound
from broker.core.generators import API_KEY_PREFIX, Generator, is_api_key, mistyped_api_key, new_api_key, new_password
from broker.core.keys import Keyring
from broker.core.secrets import EventType, RotationPolicy, SecretManager, VersionState
from broker.core.sensitive import Sensitive
from broker.scheduler import Scheduler
from broker.store.sql import SqlStore
from tests.unit.conftest import OPERATOR

HOUR = timedelta(hours=1)
GRACE = timedelta(minutes=10)
TICK = timedelta(microseconds=1)  # the clock's (and the store's) resolution
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def manager(store: SqlStore, clock: FakeClock) -> SecretManager:
    return SecretManager(store, clock, Auditor(store, clock))


def hourly(grace: timedelta = GRACE, retention: timedelta = timedelta(0)) -> RotationPolicy:
    return RotationPolicy(interval=HOUR, grace_period=grace, retention=retention)


def value_of(manager: SecretManager, secret_id: str, version: int = 0) -> bytes:
    found = manager.access(secret_id, version, by=OPERATOR)
    assert found.value is not None
    return found.value.reveal()


def scheduler_for(store: SqlStore, manager: SecretManager, clock: FakeClock, holder: str) -> Scheduler:
    keyring = Keyring(store, clock, alg="ES256", max_token_ttl=HOUR)
    keyring.ensure_initial_key()
    return Scheduler(
        store,
        manager,
        keyring,
        Auditor(store, clock),
        clock,
        tick=timedelta(seconds=10),
        lease_ttl=timedelta(seconds=30),
        signing_key_rotation=timedelta(hours=24),
        jwks_cache_ttl=timedelta(minutes=5),
        holder=holder,
    )


# generators --------------------------------------------------------------------------------


def test_api_keys_carry_the_prefix_and_a_crc32_checksum_in_base62() -> None:
    """brk_ + random base62 + 6 base62 digits that decode to the CRC32 of the random part."""
    key = new_api_key(40)
    assert key.startswith(API_KEY_PREFIX) and len(key) == 40
    body, check = key[len(API_KEY_PREFIX) : -6], key[-6:]
    decoded = 0
    for char in check:
        decoded = decoded * 62 + BASE62.index(char)
    assert decoded == zlib.crc32(body.encode())
    assert is_api_key(key.encode()) and not mistyped_api_key(key.encode())


def test_a_mistyped_api_key_fails_its_checksum() -> None:
    """Changing one character of the random part (or the checksum) breaks the checksum."""
    key = new_api_key(40)
    for position in (len(API_KEY_PREFIX), len(key) - 1):
        char = key[position]
        typo = key[:position] + ("A" if char != "A" else "B") + key[position + 1 :]
        assert mistyped_api_key(typo.encode()) and not is_api_key(typo.encode())
    assert not mistyped_api_key(b"hunter2")  # not shaped like a key at all: not judged


def test_passwords_mix_every_character_class_and_are_not_repeated() -> None:
    """A password has the asked length, lower, upper, digit and symbol characters, and no '_'."""
    passwords = {new_password(16) for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) == 16 and "_" not in password
        assert any(c.islower() for c in password) and any(c.isupper() for c in password)
        assert any(c.isdigit() for c in password) and any(not c.isalnum() for c in password)


def test_created_secrets_get_generated_values_of_the_asked_length(manager: SecretManager) -> None:
    """random_bytes/password/api_key secrets start at version 1 with a value of their generator."""
    manager.create("raw", generator=Generator.RANDOM_BYTES, policy=hourly(), length=48, by=OPERATOR)
    manager.create("pw", generator=Generator.PASSWORD, policy=hourly(), by=OPERATOR)
    created = manager.create("key", generator=Generator.API_KEY, policy=hourly(), by=OPERATOR)
    assert len(value_of(manager, "raw")) == 48
    assert len(value_of(manager, "pw")) == 32
    assert is_api_key(value_of(manager, "key"))
    assert created.current_version == 1 and created.length == 40


def test_external_secrets_take_their_value_and_generated_ones_refuse_one(manager: SecretManager) -> None:
    """An EXTERNAL secret needs a value; a generated secret refuses one, naming the field."""
    manager.create(
        "db", generator=Generator.EXTERNAL, policy=RotationPolicy(None, GRACE), value=Sensitive(b"pw-1"), by=OPERATOR
    )
    assert value_of(manager, "db") == b"pw-1"
    manager.rotate("db", value=Sensitive(b"pw-2"), by=OPERATOR)
    assert value_of(manager, "db") == b"pw-2"
    with pytest.raises(InvalidArgument, match=r"^value: "):
        manager.rotate("db", by=OPERATOR)
    manager.create("key", generator=Generator.API_KEY, policy=hourly(), by=OPERATOR)
    with pytest.raises(InvalidArgument, match=r"^value: "):
        manager.rotate("key", value=Sensitive(b"chosen"), by=OPERATOR)


# policy validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "generator", "length", "field"),
    [
        (RotationPolicy(HOUR, HOUR + timedelta(seconds=1)), Generator.API_KEY, 0, "rotation.grace_period"),
        (RotationPolicy(timedelta(0), timedelta(0)), Generator.API_KEY, 0, "rotation.interval"),
        (RotationPolicy(-HOUR, timedelta(0)), Generator.API_KEY, 0, "rotation.interval"),
        (RotationPolicy(timedelta(seconds=1.5), timedelta(0)), Generator.API_KEY, 0, "rotation.interval"),
        (RotationPolicy(HOUR, -GRACE), Generator.API_KEY, 0, "rotation.grace_period"),
        (RotationPolicy(HOUR, GRACE, -GRACE), Generator.API_KEY, 0, "rotation.retention"),
        (RotationPolicy(HOUR, GRACE), Generator.EXTERNAL, 0, "rotation.interval"),
        (RotationPolicy(HOUR, GRACE), Generator.API_KEY, 31, "length"),
        (RotationPolicy(HOUR, GRACE), Generator.PASSWORD, 10_000, "length"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(
    manager: SecretManager, policy: RotationPolicy, generator: Generator, length: int, field: str
) -> None:
    """Grace longer than the interval, a zero interval, a bad length...: InvalidArgument naming the field."""
    value = Sensitive(b"outside") if generator is Generator.EXTERNAL else None
    with pytest.raises(InvalidArgument, match=rf"^{field}: "):
        manager.create("s", generator=generator, policy=policy, length=length, value=value, by=OPERATOR)
    with pytest.raises(NotFound):
        manager.get("s")


def test_a_grace_equal_to_the_interval_and_manual_rotation_are_accepted(manager: SecretManager) -> None:
    """The boundaries next to the refused cases: grace == interval, and no interval (by hand only)."""
    assert manager.create(
        "a", generator=Generator.API_KEY, policy=RotationPolicy(HOUR, HOUR), by=OPERATOR
    ).policy.grace_period
    manual = manager.create("b", generator=Generator.API_KEY, policy=RotationPolicy(None, GRACE), by=OPERATOR)
    assert manual.next_rotation_time is None


def test_an_unknown_generator_on_the_wire_is_refused_naming_the_field() -> None:
    """UNSPECIFIED (0) and numbers outside the enum are INVALID_ARGUMENT on generator."""
    for number in (0, 99):
        with pytest.raises(InvalidArgument, match=r"^generator: "):
            generator_from_proto(number)
    assert generator_from_proto(3) is Generator.API_KEY


# rotation and grace edges ---------------------------------------------------------------------


def test_rotation_happens_exactly_at_the_due_time_not_one_tick_before(manager: SecretManager, clock: FakeClock) -> None:
    """rotate_due at due - 1µs rotates nothing; at due it rotates once; again at due, nothing."""
    start = clock.now()
    manager.create("key", generator=Generator.API_KEY, policy=hourly(), by=OPERATOR)
    clock.set(start + HOUR - TICK)
    assert manager.rotate_due(clock.now(), by=OPERATOR) == []
    clock.set(start + HOUR)
    (rotated,) = manager.rotate_due(clock.now(), by=OPERATOR)
    assert rotated.version == 2 and rotated.value is None
    assert manager.rotate_due(clock.now(), by=OPERATOR) == []
    secret = manager.get("key")
    assert secret.current_version == 2
    assert secret.next_rotation_time == start + 2 * HOUR  # the cadence is kept


def test_a_late_rotation_keeps_the_cadence(manager: SecretManager, clock: FakeClock) -> None:
    """Rotated 20 minutes late, the next rotation is still due one interval after the missed due time."""
    start = clock.now()
    manager.create("key", generator=Generator.API_KEY, policy=hourly(), by=OPERATOR)
    clock.set(start + HOUR + timedelta(minutes=20))
    assert len(manager.rotate_due(clock.now(), by=OPERATOR)) == 1
    assert manager.get("key").next_rotation_time == start + 2 * HOUR


def test_after_downtime_a_due_secret_rotates_once_not_once_per_missed_interval(
    manager: SecretManager, clock: FakeClock
) -> None:
    """Five and a half missed intervals: one catch-up rotation, and the schedule restarts from now."""
    start = clock.now()
    manager.create("key", generator=Generator.API_KEY, policy=hourly(), by=OPERATOR)
    clock.set(start + 5 * HOUR + timedelta(minutes=30))
    assert len(manager.rotate_due(clock.now(), by=OPERATOR)) == 1
    assert manager.rotate_due(clock.now(), by=OPERATOR) == []
    secret = manager.get("key")
    assert secret.current_version == 2
    assert secret.next_rotation_time == clock.now() + HOUR


def test_old_value_is_accepted_one_tick_before_grace_expiry_and_refused_at_and_after(
    manager: SecretManager, clock: FakeClock
) -> None:
    """PREVIOUS until grace_expire_time (exclusive); from that instant EXPIRED, unreadable, refused."""
    manager.create("key", generator=Generator.API_KEY, policy=hourly(), by=OPERATOR)
    old = value_of(manager, "key")
    rotated_at = clock.now()
    manager.rotate("key", by=OPERATOR)
    new = value_of(manager, "key")
    grace_end = rotated_at + GRACE

    clock.set(grace_end - TICK)
    answer = manager.verify("key", old, by=OPERATOR)
    assert (answer.valid, answer.version, answer.state) == (True, 1, VersionState.PREVIOUS)
    assert manager.access("key", 1, by=OPERATOR).grace_expire_time == grace_end
    assert manager.verify("key", new, by=OPERATOR).state is VersionState.CURRENT

    for when in (grace_end, grace_end + TICK):
        clock.set(when)
        answer = manager.verify("key", old, by=OPERATOR)
        assert (answer.valid, answer.version, answer.state) == (False, 1, VersionState.EXPIRED)
        with pytest.raises(FailedPrecondition, match=re.escape(f"expired at {grace_end.isoformat()}")):
            manager.access("key", 1, by=OPERATOR)
        assert manager.verify("key", new, by=OPERATOR).valid


def test_the_expiry_job_records_grace_expired_and_destroys_material_after_retention(
    manager: SecretManager, clock: FakeClock
) -> None:
    """At grace end: one GRACE_EXPIRED event; after the retention the material is gone for good."""
    manager.create("key", generator=Generator.API_KEY, policy=hourly(retention=HOUR), by=OPERATOR)
    old = value_of(manager, "key")
    manager.rotate("key", by=OPERATOR)
    clock.advance(GRACE - TICK)
    assert manager.expire(clock.now()) == ([], 0)
    clock.advance(TICK)
    events, destroyed = manager.expire(clock.now())
    assert [(e.type, e.version, e.current_version) for e in events] == [(EventType.GRACE_EXPIRED, 1, 2)]
    assert destroyed == 0
    assert manager.verify("key", old, by=OPERATOR).state is VersionState.EXPIRED  # still recognised, not accepted
    clock.advance(HOUR)
    assert manager.expire(clock.now()) == ([], 1)
    (listed,) = [v for v in manager.versions("key", page_size=10, page_token="")[0] if v.version == 1]
    assert listed.destroyed and listed.state is VersionState.EXPIRED
    assert (
        manager.verify("key", old, by=OPERATOR).valid is False and manager.verify("key", old, by=OPERATOR).version == 0
    )


def test_every_version_is_kept_and_exactly_one_is_current(manager: SecretManager, clock: FakeClock) -> None:
    """After many rotations the versions are 1..n, newest first: n CURRENT, n-1 PREVIOUS, the rest EXPIRED."""
    manager.create("key", generator=Generator.PASSWORD, policy=hourly(), by=OPERATOR)
    for _ in range(6):
        clock.advance(HOUR)
        manager.rotate_due(clock.now(), by=OPERATOR)
    versions, token = manager.versions("key", page_size=4, page_token="")
    more, end = manager.versions("key", page_size=4, page_token=token)
    assert end == ""
    listed = versions + more
    assert [v.version for v in listed] == [7, 6, 5, 4, 3, 2, 1]
    assert [v.state for v in listed].count(VersionState.CURRENT) == 1
    assert listed[0].state is VersionState.CURRENT
    assert listed[1].state is VersionState.PREVIOUS  # rotated just now: in its grace
    assert {v.state for v in listed[2:]} == {VersionState.EXPIRED}


def test_replicas_racing_on_one_due_time_rotate_once(store: SqlStore, clock: FakeClock) -> None:
    """Eight managers (replicas) call rotate_due at the same due time: one new version in total."""
    SecretManager(store, clock, Auditor(store, clock)).create(
        "key", generator=Generator.API_KEY, policy=hourly(), by=OPERATOR
    )
    clock.advance(HOUR)
    barrier = threading.Barrier(8)
    results: list[int] = []

    def replica() -> None:
        barrier.wait()
        results.append(len(SecretManager(store, clock, Auditor(store, clock)).rotate_due(clock.now(), by=OPERATOR)))

    threads = [threading.Thread(target=replica) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [0] * 7 + [1]
    assert store.get_secret("key").current_version == 2


def test_a_mistyped_api_key_is_refused_before_any_store_lookup(manager: SecretManager) -> None:
    """For a secret that does not exist: a bad checksum answers invalid; a good one needs the store (NotFound)."""
    good = new_api_key(40)
    typo = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert manager.verify("no-such-secret", typo.encode(), by=OPERATOR).valid is False
    with pytest.raises(NotFound):
        manager.verify("no-such-secret", good.encode(), by=OPERATOR)


def test_unknown_values_and_unknown_secrets(manager: SecretManager) -> None:
    """A wrong value is simply invalid; an unknown secret is NotFound for every operation."""
    manager.create("key", generator=Generator.PASSWORD, policy=hourly(), by=OPERATOR)
    assert manager.verify("key", b"not-the-password", by=OPERATOR).valid is False
    for call in (
        lambda: manager.get("nope"),
        lambda: manager.access("nope", by=OPERATOR),
        lambda: manager.rotate("nope", by=OPERATOR),
        lambda: manager.delete("nope", by=OPERATOR),
        lambda: manager.versions("nope", page_size=1, page_token=""),
    ):
        with pytest.raises(NotFound):
            call()


# update and delete ----------------------------------------------------------------------------


def test_changing_the_interval_reschedules_from_the_last_rotation(manager: SecretManager, clock: FakeClock) -> None:
    """24h -> 1h on a secret rotated 3h ago: due now; a change that keeps the interval keeps the schedule."""
    daily = RotationPolicy(timedelta(days=1), GRACE)
    manager.create("key", generator=Generator.API_KEY, policy=daily, by=OPERATOR)
    clock.advance(3 * HOUR)
    updated = manager.update("key", {"rotation.interval": HOUR}, by=OPERATOR)
    assert updated.next_rotation_time == clock.now()
    kept = manager.update("key", {"rotation.grace_period": timedelta(minutes=5)}, by=OPERATOR)
    assert kept.next_rotation_time == clock.now()
    manual = manager.update("key", {"rotation.interval": None}, by=OPERATOR)
    assert manual.next_rotation_time is None
    with pytest.raises(InvalidArgument, match=r"^rotation.grace_period: "):
        manager.update("key", {"rotation.interval": timedelta(minutes=1)}, by=OPERATOR)
    with pytest.raises(InvalidArgument, match=r"^update_mask: "):
        manager.update("key", {"generator": Generator.PASSWORD}, by=OPERATOR)


def test_delete_removes_the_secret_and_tells_watchers(manager: SecretManager) -> None:
    """After delete, the secret is NotFound and a DELETED event is in the log."""
    manager.create("key", generator=Generator.API_KEY, policy=hourly(), by=OPERATOR)
    before = manager.last_event_seq()
    manager.delete("key", by=OPERATOR)
    with pytest.raises(NotFound):
        manager.access("key", by=OPERATOR)
    (event,) = manager.events(after_seq=before, limit=10)
    assert (event.type, event.secret_id) == (EventType.DELETED, "key")


# secrecy --------------------------------------------------------------------------------------


def test_values_never_appear_in_reprs_or_error_messages(manager: SecretManager, clock: FakeClock) -> None:
    """repr/str of versions and secrets, and the errors on them, never contain the value."""
    manager.create(
        "db", generator=Generator.EXTERNAL, policy=RotationPolicy(None, GRACE), value=Sensitive(b"s3cr3t"), by=OPERATOR
    )
    found = manager.access("db", by=OPERATOR)
    assert "s3cr3t" not in repr(found) and "s3cr3t" not in str(found)
    assert "s3cr3t" not in repr(manager.get("db"))
    manager.rotate("db", value=Sensitive(b"n3w-s3cr3t"), by=OPERATOR)
    clock.advance(GRACE)
    with pytest.raises(FailedPrecondition) as expired:
        manager.access("db", 1, by=OPERATOR)
    assert "s3cr3t" not in str(expired.value)
    shaped = API_KEY_PREFIX + "A" * 30 + "000000"  # a key with a wrong checksum
    assert mistyped_api_key(shaped.encode())
    with pytest.raises(InvalidArgument, match=r"^value: ") as refused:
        manager.rotate("db", value=Sensitive(shaped.encode()), by=OPERATOR)
    assert "AAAAAAAAAA" not in str(refused.value)


# the scheduler's secret jobs ----------------------------------------------------------------------


def test_only_the_lease_holder_rotates_and_a_follower_takes_over_when_the_lease_lapses(
    store: SqlStore, manager: SecretManager, clock: FakeClock
) -> None:
    """Two schedulers: the first to take the lease rotates; the other only after the lease expired."""
    manager.create("key", generator=Generator.API_KEY, policy=hourly(), by=OPERATOR)
    leader = scheduler_for(store, manager, clock, "a")
    follower = scheduler_for(store, manager, clock, "b")
    leader.renew_lease(clock.now())
    follower.renew_lease(clock.now())
    assert leader.is_leader() and not follower.is_leader()

    clock.advance(HOUR)
    for scheduler in (leader, follower):
        scheduler.run_now("lease")
    follower.run_now("rotate_secrets")
    assert manager.get("key").current_version == 1
    leader.run_now("rotate_secrets")
    assert manager.get("key").current_version == 2

    clock.advance(HOUR)  # the leader stopped renewing: its lease lapsed
    assert not leader.is_leader()
    follower.run_now("lease")
    assert follower.is_leader()
    follower.run_now("rotate_secrets")
    assert manager.get("key").current_version == 3
    leader.run_now("lease")
    assert not leader.is_leader()
