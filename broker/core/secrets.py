"""Rotating secrets: versions, states, grace periods, generators, and the SecretManager.

A secret has exactly one CURRENT version at every instant. A rotation, in one atomic
store step, makes a new version CURRENT and the old one PREVIOUS, valid until its
grace_expire_time; from that instant on it is EXPIRED (not accepted, not readable) and
its material is destroyed once the policy's retention has passed.

States are read through the clock: a PREVIOUS version whose grace_expire_time is at or
before ``now`` is EXPIRED for every reader, whether or not the expiry job has marked it
yet; the job only records the GRACE_EXPIRED event and destroys material later.
``grace_ended`` and ``material_due`` state these two rules once: ``as_of`` (every
reader) and the stores' expiry and destruction sweeps apply them.

Rotation is decided from stored state alone (``next_rotation_time`` and a
compare-and-set on the CURRENT version number), so restarts, crashes and downtime
never lose a version, never make two CURRENT and never rotate twice for one due time:
after downtime a due secret rotates once and its schedule restarts from then.

New values come from core/generators.py.
"""

from __future__ import annotations

import builtins
import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from . import pages
from .audit import Auditor
from .clock import Clock
from .durations import format_duration
from .errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from .generators import API_KEY_PREFIX, Generator, generate, mistyped_api_key, validate_length
from .identities import ID_PATTERN, validate_id
from .masks import check_mask
from .principals import ADMIN_SCOPE, Principal
from .sensitive import Sensitive


class VersionState(StrEnum):
    """Where a version is in its life."""

    CURRENT = "current"
    PREVIOUS = "previous"
    EXPIRED = "expired"


class EventType(StrEnum):
    """What WatchSecret reports."""

    ROTATED = "rotated"
    GRACE_EXPIRED = "grace_expired"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """When values rotate (None: by hand only) and how long old ones keep working."""

    interval: timedelta | None
    grace_period: timedelta
    retention: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret's metadata; never its value."""

    id: str
    generator: Generator
    length: int
    policy: RotationPolicy
    current_version: int = 0
    next_rotation_time: datetime | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    etag: str = ""


@dataclass(frozen=True, slots=True)
class SecretVersion:
    """One value of a secret; ``value`` is None when not loaded or destroyed."""

    secret_id: str
    version: int
    state: VersionState
    create_time: datetime
    grace_expire_time: datetime | None = None
    expire_time: datetime | None = None
    destroyed: bool = False
    value: Sensitive | None = None


@dataclass(frozen=True, slots=True)
class SecretEvent:
    """A change to a secret; carries version numbers, never values.

    ``seq`` orders the events of every secret (the store's log, for the broker's own
    feed); ``secret_seq`` numbers the events of this secret id alone (1, 2, 3, ...), and
    is the only number a watcher sees, so it learns nothing about other secrets.
    """

    seq: int
    secret_id: str
    type: EventType
    version: int
    current_version: int
    event_time: datetime
    secret_seq: int = 0


#: Scopes of the secret API; each is granted per secret (``<scope>:<id>``) or for all (``<scope>:*``).
READ_SCOPE = "broker.secrets.read"
VERIFY_SCOPE = "broker.secrets.verify"
ROTATE_SCOPE = "broker.secrets.rotate"
#: Rotating to a value the caller chooses (external secrets): what every reader adopts next.
WRITE_SCOPE = "broker.secrets.write"

MAX_VALUE_BYTES = 64 * 1024
#: Version numbers fit a 32-bit signed integer on every store.
MAX_VERSION = 2**31 - 1
MAX_DURATION = timedelta(days=3650)
#: Verification compares the presented value with at most this many newest versions.
VERIFY_WINDOW = 32
MUTABLE_FIELDS = frozenset({"rotation.interval", "rotation.grace_period", "rotation.retention", "length"})
_CURRENT_READ_ATTEMPTS = 3


def _check_duration(value: timedelta, field: str) -> None:
    if value < timedelta(0):
        raise InvalidArgument(f"{field}: must not be negative")
    if value % timedelta(seconds=1):
        raise InvalidArgument(f"{field}: must be a whole number of seconds")
    if value > MAX_DURATION:
        raise InvalidArgument(f"{field}: must be at most {MAX_DURATION.days}d")


def validate_policy(policy: RotationPolicy, generator: Generator) -> RotationPolicy:
    """Refuse a zero or negative interval, a grace longer than the interval, and the like.

    Each message starts with the field's name (``rotation.interval``, ...).
    """
    interval = policy.interval
    if interval is not None:
        if interval <= timedelta(0):
            raise InvalidArgument("rotation.interval: must be positive (leave it unset to rotate by hand only)")
        _check_duration(interval, "rotation.interval")
        if generator is Generator.EXTERNAL:
            raise InvalidArgument(
                "rotation.interval: an external secret's values come from outside, so it is rotated by hand; "
                "leave the interval unset"
            )
    _check_duration(policy.grace_period, "rotation.grace_period")
    if interval is not None and policy.grace_period > interval:
        raise InvalidArgument(
            f"rotation.grace_period: {format_duration(policy.grace_period)} is longer than "
            f"rotation.interval {format_duration(interval)}"
        )
    _check_duration(policy.retention, "rotation.retention")
    return policy


def _external_value(value: Sensitive | None) -> Sensitive:
    if value is None or len(value) == 0:
        raise InvalidArgument("value: an external secret needs a value")
    if len(value) > MAX_VALUE_BYTES:
        raise InvalidArgument(f"value: at most {MAX_VALUE_BYTES} bytes")
    if mistyped_api_key(value.reveal()):
        raise InvalidArgument(f"value: has the shape of a broker API key ({API_KEY_PREFIX}...) but a wrong checksum")
    return value


def grace_ended(version: SecretVersion, now: datetime) -> bool:
    """True for a PREVIOUS version whose grace ended at or before ``now``: EXPIRED to every reader."""
    grace_end = version.grace_expire_time
    return version.state is VersionState.PREVIOUS and grace_end is not None and grace_end <= now


def material_due(version: SecretVersion, retention: timedelta, now: datetime) -> bool:
    """True for an EXPIRED version whose value is still kept though ``retention`` has passed since it expired."""
    expired = version.expire_time
    return (
        version.state is VersionState.EXPIRED
        and not version.destroyed
        and expired is not None
        and expired + retention <= now
    )


def as_of(version: SecretVersion, now: datetime) -> SecretVersion:
    """The version as it stands at ``now``: a PREVIOUS one whose grace has ended is EXPIRED."""
    if grace_ended(version, now):
        return dataclasses.replace(version, state=VersionState.EXPIRED, expire_time=version.grace_expire_time)
    return version


@dataclass(frozen=True, slots=True)
class Verification:
    """The answer to "is this value valid?": which version matched, and its state now."""

    valid: bool
    version: int = 0
    state: VersionState | None = None


class SecretStore(Protocol):
    """What the secret manager needs of the store: secrets, their versions (values sealed), their events."""

    def create_secret(self, secret: Secret, first: SecretVersion) -> Secret:
        """Insert the secret and its first CURRENT version in one step (value sealed)."""
        ...

    def get_secret(self, secret_id: str) -> Secret:
        """The secret's metadata, or NotFound."""
        ...

    def list_secrets(self, *, after: str, limit: int) -> list[Secret]:
        """Up to ``limit`` secrets with id > ``after``, ordered by id."""
        ...

    def update_secret(self, secret: Secret, *, expected_etag: str) -> Secret:
        """Replace the metadata (policy, next rotation) if the etag matches (else Conflict)."""
        ...

    def delete_secret(self, secret_id: str, *, expected_etag: str | None, now: datetime) -> None:
        """Delete the secret and every version (material gone); records a DELETED event."""
        ...

    def rotate_secret(
        self,
        secret_id: str,
        *,
        expected_version: int,
        new: SecretVersion,
        grace_expire_time: datetime,
        next_rotation_time: datetime | None,
    ) -> Secret:
        """One atomic step: if the CURRENT version is still ``expected_version`` (else
        Conflict), it becomes PREVIOUS until ``grace_expire_time``, ``new`` becomes CURRENT,
        the next rotation time is set and a ROTATED event is recorded."""
        ...

    def list_secret_versions(self, secret_id: str, *, before: int, limit: int) -> list[SecretVersion]:
        """Versions below ``before`` (0: all), newest first, without values."""
        ...

    def get_secret_version(self, secret_id: str, version: int) -> SecretVersion:
        """One version with its value unsealed (None once destroyed), or NotFound."""
        ...

    def expire_secret_versions(self, now: datetime) -> list[SecretEvent]:
        """Turn PREVIOUS versions whose grace ended by ``now`` EXPIRED; records and
        returns one GRACE_EXPIRED event each."""
        ...

    def destroy_expired_material(self, now: datetime) -> int:
        """Erase the material of EXPIRED versions past their retention; returns how many."""
        ...

    def due_secrets(self, now: datetime, limit: int) -> list[Secret]:
        """Secrets whose next rotation time is at or before ``now``."""
        ...

    def list_secret_events(self, *, after_seq: int, limit: int) -> list[SecretEvent]:
        """Events with seq > ``after_seq`` in seq order (all secrets; callers filter)."""
        ...

    def last_secret_event_seq(self) -> int:
        """The highest event seq so far (0 when none)."""
        ...

    def list_secret_events_of(self, secret_id: str, *, after: int, limit: int) -> list[SecretEvent]:
        """Events of one secret id with secret_seq > ``after``, in order (its numbers have no gaps)."""
        ...

    def last_secret_event_of(self, secret_id: str) -> int:
        """The secret_seq of the newest event of ``secret_id`` (0 when none)."""
        ...


class SecretManager:
    """Create, read, rotate, expire and verify rotating secrets; every decision reads the clock.

    Every call that changes a secret or reveals or checks a value takes the caller, checks
    its per-secret scopes (the api/secret.py docstring has the table) and is audited.
    """

    def __init__(self, store: SecretStore, clock: Clock, auditor: Auditor, *, sample_reads: bool = False) -> None:
        self._store = store
        self._clock = clock
        self._auditor = auditor
        # Reads may come by the thousand a minute: then one event per caller, secret and minute.
        self._record_read = auditor.record_sampled if sample_reads else auditor.record

    # metadata ---------------------------------------------------------------------
    def create(
        self,
        secret_id: str,
        *,
        generator: Generator,
        policy: RotationPolicy,
        by: Principal,
        length: int = 0,
        value: Sensitive | None = None,
    ) -> Secret:
        """Store a new secret with its first CURRENT version (generated, or ``value`` if EXTERNAL)."""
        by.require(ADMIN_SCOPE)
        validate_id(secret_id, "secret_id")
        length = validate_length(generator, length)
        policy = validate_policy(policy, generator)
        material = self._new_value(generator, length, value)
        now = self._clock.now()
        secret = Secret(
            id=secret_id,
            generator=generator,
            length=length,
            policy=policy,
            current_version=1,
            next_rotation_time=None if policy.interval is None else now + policy.interval,
            create_time=now,
            update_time=now,
        )
        first = SecretVersion(
            secret_id=secret_id, version=1, state=VersionState.CURRENT, create_time=now, value=material
        )
        created = self._store.create_secret(secret, first)
        self._auditor.record("secret.create", by=by, target=created.id, generator=created.generator.value)
        return created

    def get(self, secret_id: str) -> Secret:
        """The secret's metadata, or NotFound."""
        validate_id(secret_id, "secret_id")
        return self._store.get_secret(secret_id)

    def list(self, *, page_size: int, page_token: str) -> tuple[builtins.list[Secret], str]:
        """One page ordered by id, and the token of the next page ('' at the end)."""
        size = pages.page_size(page_size)
        if page_token and not ID_PATTERN.match(page_token):
            raise InvalidArgument("page_token: not a token this server issued")
        items = self._store.list_secrets(after=page_token, limit=size + 1)
        return pages.page(items, size, lambda secret: secret.id)

    def versions(self, secret_id: str, *, page_size: int, page_token: str) -> tuple[builtins.list[SecretVersion], str]:
        """One page of versions, newest first, as they stand now (no values)."""
        validate_id(secret_id, "secret_id")
        size = pages.page_size(page_size)
        if page_token and not re.fullmatch(r"[0-9]{1,9}", page_token):
            raise InvalidArgument("page_token: not a token this server issued")
        items = self._store.list_secret_versions(secret_id, before=int(page_token or 0), limit=size + 1)
        now = self._clock.now()
        listed, token = pages.page(items, size, lambda version: str(version.version))
        return [as_of(v, now) for v in listed], token

    def update(self, secret_id: str, changes: Mapping[str, Any], *, by: Principal, etag: str = "") -> Secret:
        """Apply ``changes`` (``rotation.interval``, ``rotation.grace_period``, ``rotation.retention``,
        ``length``); a changed interval reschedules from the last rotation. A non-empty etag must match."""
        by.require(ADMIN_SCOPE)
        check_mask(changes, MUTABLE_FIELDS)
        current = self.get(secret_id)
        old = current.policy
        policy = validate_policy(
            RotationPolicy(
                interval=changes.get("rotation.interval", old.interval),
                grace_period=changes.get("rotation.grace_period", old.grace_period),
                retention=changes.get("rotation.retention", old.retention),
            ),
            current.generator,
        )
        length = validate_length(current.generator, changes.get("length", current.length))
        now = self._clock.now()
        next_rotation = current.next_rotation_time
        if policy.interval != old.interval:
            next_rotation = (
                None if policy.interval is None else max(now, self._last_rotation(secret_id) + policy.interval)
            )
        updated = dataclasses.replace(
            current, policy=policy, length=length, next_rotation_time=next_rotation, update_time=now
        )
        stored = self._store.update_secret(updated, expected_etag=etag or current.etag)
        self._auditor.record("secret.update", by=by, target=stored.id, fields=sorted(changes))
        return stored

    def delete(self, secret_id: str, *, by: Principal, etag: str = "") -> None:
        """Delete the secret and every version (a DELETED event tells watchers)."""
        by.require(ADMIN_SCOPE)
        validate_id(secret_id, "secret_id")
        self._store.delete_secret(secret_id, expected_etag=etag or None, now=self._clock.now())
        self._auditor.record("secret.delete", by=by, target=secret_id)

    # values -----------------------------------------------------------------------
    def access(self, secret_id: str, version: int = 0, *, by: Principal) -> SecretVersion:
        """A version with its value (0: the CURRENT one); FailedPrecondition once it has expired."""
        validate_id(secret_id, "secret_id")
        by.require_on(secret_id, READ_SCOPE)
        if not 0 <= version <= MAX_VERSION:
            raise InvalidArgument(f"version: between 0 (the current version) and {MAX_VERSION}")
        found = as_of(self._read_version(secret_id, version), self._clock.now())
        if found.state is VersionState.EXPIRED or found.value is None:
            when = found.expire_time or found.grace_expire_time
            at = f" at {when.isoformat()}" if when is not None else ""
            raise FailedPrecondition(f"version {found.version} of secret {secret_id!r} expired{at}")
        self._record_read("secret.access", by=by, target=secret_id, version=found.version)
        return found

    def verify(self, secret_id: str, value: bytes, *, by: Principal) -> Verification:
        """Which version ``value`` is, and whether it is accepted now (CURRENT, or PREVIOUS in grace).

        A value shaped like a broker API key with a wrong checksum is refused before any
        store lookup. Every candidate is compared in constant time, and all of them are
        compared, so the time taken does not tell which one matched.
        """
        validate_id(secret_id, "secret_id")
        by.require_on(secret_id, VERIFY_SCOPE, READ_SCOPE)
        answer = self._check(secret_id, value)
        outcome = "success" if answer.valid else "failure"
        self._record_read("secret.verify", by=by, target=secret_id, outcome=outcome, version=answer.version)
        return answer

    def _check(self, secret_id: str, value: bytes) -> Verification:
        if not value:
            raise InvalidArgument("value: must not be empty")
        if len(value) > MAX_VALUE_BYTES or mistyped_api_key(value):
            return Verification(valid=False)
        match: SecretVersion | None = None
        for listed in self._store.list_secret_versions(secret_id, before=0, limit=VERIFY_WINDOW):
            if listed.destroyed:
                continue
            try:
                stored = self._store.get_secret_version(secret_id, listed.version)
            except NotFound:  # deleted meanwhile
                continue
            if stored.value is not None and stored.value.matches(value) and match is None:
                match = stored
        if match is None:
            return Verification(valid=False)
        seen = as_of(match, self._clock.now())
        return Verification(valid=seen.state is not VersionState.EXPIRED, version=seen.version, state=seen.state)

    # rotation ---------------------------------------------------------------------
    def rotate(
        self, secret_id: str, *, by: Principal, value: Sensitive | None = None, now: datetime | None = None
    ) -> SecretVersion:
        """Rotate now (by hand): a new CURRENT version; the old one is PREVIOUS for the grace period.

        ``value`` is required for EXTERNAL secrets and refused for generated ones; choosing
        the value every reader adopts next takes the write scope. The schedule restarts
        from ``now``. Returns the new version without its value.
        """
        validate_id(secret_id, "secret_id")
        if value is not None:
            by.require_on(secret_id, WRITE_SCOPE, admin=True)
        else:
            by.require_on(secret_id, ROTATE_SCOPE, WRITE_SCOPE, admin=True)
        secret = self._store.get_secret(secret_id)
        rotated = self._rotate(secret, now or self._clock.now(), value, scheduled=False)
        self._auditor.record("secret.rotate", by=by, target=secret_id, version=rotated.version)
        return rotated

    def next_rotation(self) -> datetime | None:
        """When the soonest scheduled rotation is due (None: no secret rotates on a schedule)."""
        soonest = self._store.due_secrets(datetime.max.replace(tzinfo=UTC), 1)
        return soonest[0].next_rotation_time if soonest else None

    def rotate_due(self, now: datetime, *, by: Principal, limit: int = 100) -> builtins.list[SecretVersion]:
        """Rotate, once each, up to ``limit`` secrets whose next rotation time is at or before ``now``.

        A secret rotated or deleted by someone else since it was read is skipped (the
        compare-and-set on its CURRENT version lost), so one due time never rotates twice.
        ``by`` (the scheduler) needs the rotate scope for every secret.
        """
        by.require_on("*", ROTATE_SCOPE)
        rotated = []
        for secret in self._store.due_secrets(now, limit):
            try:
                version = self._rotate(secret, now, None, scheduled=True)
            except (Conflict, NotFound):
                continue
            self._auditor.record("secret.rotate", by=by, target=version.secret_id, version=version.version)
            rotated.append(version)
        return rotated

    def expire(self, now: datetime) -> tuple[builtins.list[SecretEvent], int]:
        """Mark PREVIOUS versions whose grace ended EXPIRED (their events), and destroy material
        past retention (how many)."""
        events = self._store.expire_secret_versions(now)
        return events, self._store.destroy_expired_material(now)

    # events -----------------------------------------------------------------------
    def watch(self, secret_id: str, *, by: Principal) -> Secret:
        """The secret whose events ``by`` may watch: any of its scopes for it, or broker.admin."""
        validate_id(secret_id, "secret_id")
        by.require_on(secret_id, READ_SCOPE, VERIFY_SCOPE, ROTATE_SCOPE, WRITE_SCOPE, admin=True)
        return self._store.get_secret(secret_id)

    def events(self, *, after_seq: int, limit: int) -> builtins.list[SecretEvent]:
        """Events of every secret with seq > ``after_seq``, in order."""
        return self._store.list_secret_events(after_seq=after_seq, limit=limit)

    def last_event_seq(self) -> int:
        """The seq of the newest event (0 when none)."""
        return self._store.last_secret_event_seq()

    def events_of(self, secret_id: str, *, after: int, limit: int) -> builtins.list[SecretEvent]:
        """Events of one secret id with secret_seq > ``after``, in order."""
        return self._store.list_secret_events_of(secret_id, after=after, limit=limit)

    def last_event_of(self, secret_id: str) -> int:
        """The secret_seq of the secret id's newest event (0 when none)."""
        return self._store.last_secret_event_of(secret_id)

    # internals --------------------------------------------------------------------
    def _new_value(self, generator: Generator, length: int, value: Sensitive | None) -> Sensitive:
        if generator is Generator.EXTERNAL:
            return _external_value(value)
        if value is not None:
            raise InvalidArgument(f"value: a {generator.value} secret generates its own values; omit the value")
        return generate(generator, length)

    def _read_version(self, secret_id: str, version: int) -> SecretVersion:
        if version:
            return self._store.get_secret_version(secret_id, version)
        for _ in range(_CURRENT_READ_ATTEMPTS):
            current = self._store.get_secret(secret_id).current_version
            found = self._store.get_secret_version(secret_id, current)
            if found.state is VersionState.CURRENT:
                return found
        raise Conflict(f"secret {secret_id!r} rotated while being read; try again")

    def _last_rotation(self, secret_id: str) -> datetime:
        newest = self._store.list_secret_versions(secret_id, before=0, limit=1)
        return newest[0].create_time

    def _rotate(self, secret: Secret, now: datetime, value: Sensitive | None, *, scheduled: bool) -> SecretVersion:
        new = SecretVersion(
            secret_id=secret.id,
            version=secret.current_version + 1,
            state=VersionState.CURRENT,
            create_time=now,
            value=self._new_value(secret.generator, secret.length, value),
        )
        self._store.rotate_secret(
            secret.id,
            expected_version=secret.current_version,
            new=new,
            grace_expire_time=now + secret.policy.grace_period,
            next_rotation_time=_next_rotation(secret, now, scheduled=scheduled),
        )
        return dataclasses.replace(new, value=None)


def _next_rotation(secret: Secret, now: datetime, *, scheduled: bool) -> datetime | None:
    """On time, the schedule keeps its cadence (due + interval); by hand or after downtime
    longer than an interval, it restarts from ``now`` (one catch-up, never one per missed interval)."""
    interval = secret.policy.interval
    if interval is None:
        return None
    due = secret.next_rotation_time
    if scheduled and due is not None and due + interval > now:
        return due + interval
    return now + interval
