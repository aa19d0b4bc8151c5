"""People: the accounts that log in, their passwords, and the registry admins manage them with.

A person's tokens are the broker's ordinary access tokens with ``kind`` "human" and
``sub`` ``user:<name>`` (a namespace no identity id can enter), so every verifier,
introspection, revocation and delegation treats them like a machine's. Like an identity,
a person has a ``tokens_valid_from``: disabling, deleting and re-creating, narrowing the
scopes or audiences, or resetting the password moves it to now, and every token issued
before it is dead for good (core/liveness.py).

Passwords follow NIST SP 800-63B: 12 to 128 characters after NFKC normalisation, any
characters, no composition rules; refused when they contain the user name or are in the
bundled list of common passwords. They are kept only as Argon2id hashes (RFC 9106's second
recommended profile: m=64 MiB, t=3, p=4), parameters inside the hash, rehashed at the
next login when the profile changes. Hashing is CPU and memory heavy: callers run it off
the event loop and bound how many run at once (api/login.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import argon2

from . import pages
from .audit import Auditor
from .cache import ReadCache
from .clock import Clock
from .errors import BrokerError, InvalidArgument, Unauthenticated
from .identities import TENANT_PATTERN, validate_audiences, validate_scopes
from .masks import check_mask
from .mfa import MfaState
from .principals import ADMIN_SCOPE, Principal

#: The ``kind`` of a person's tokens.
HUMAN_KIND = "human"
#: A person's ``sub``: this prefix, then the user name.
SUBJECT_PREFIX = "user:"
#: User names: lowercase letters, digits and ``. _ @ + -`` (an e-mail address fits), at most 128.
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,127}$")
#: A setup code: this prefix, then 128 random bits; good once, for ``SETUP_CODE_TTL``.
SETUP_CODE_PREFIX = "bsc_"
SETUP_CODE_TTL = timedelta(hours=24)
MIN_PASSWORD = 12
MAX_PASSWORD = 128
#: Fields UpdateUser may change (update_mask paths).
MUTABLE_FIELDS = frozenset(
    {"display_name", "tenant", "allowed_scopes", "allowed_audiences", "disabled", "mfa_required"}
)


@dataclass(frozen=True, slots=True)
class Person:
    """A person who logs in, and what their tokens may carry."""

    username: str
    tenant: str = ""
    display_name: str = ""
    allowed_scopes: tuple[str, ...] = ()
    allowed_audiences: tuple[str, ...] = ()
    disabled: bool = False
    #: The Argon2id hash (PHC string, parameters included); '' until a password is set.
    password_hash: str = field(default="", repr=False)
    #: Logins must pass a second factor (and, until one is enrolled, get no scopes).
    mfa_required: bool = False
    mfa: MfaState = field(default_factory=MfaState, repr=False)
    #: SHA-256 of the one-time setup code that lets the person choose a first password ('' if none).
    setup_code_hash: str = field(default="", repr=False)
    setup_code_expire_time: datetime | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    etag: str = ""
    #: Tokens issued before this instant are dead (see the module docstring).
    tokens_valid_from: datetime | None = None

    @property
    def subject(self) -> str:
        """The ``sub`` of this person's tokens."""
        return f"{SUBJECT_PREFIX}{self.username}"

    def valid_from(self) -> datetime | None:
        """The instant from which this person's tokens count."""
        return self.tokens_valid_from or self.create_time


def username_of(subject: str) -> str | None:
    """The user name a person's ``sub`` names, or None if it names no person."""
    return subject.removeprefix(SUBJECT_PREFIX) if subject.startswith(SUBJECT_PREFIX) else None


def normalise_username(text: str) -> str:
    """A user name as stored: NFKC, lowercased, surrounding space removed (not validated)."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def validate_username(value: str) -> str:
    """InvalidArgument unless ``value`` is a user name (``USERNAME_PATTERN``)."""
    if not USERNAME_PATTERN.match(value):
        raise InvalidArgument(
            f"username: {value[:80]!r} is not a user name (1-128 of lowercase letters, digits and '._@+-', "
            "starting with a letter or digit)"
        )
    return value


def own_username(by: Principal) -> str:
    """The user name of a caller holding their own login's token (not a delegated one), else
    Unauthenticated: only the person changes their password or second factor."""
    username = username_of(by.subject) if by.kind == HUMAN_KIND and by.actor == by.subject else None
    if username is None:
        raise Unauthenticated("this call needs the person's own login token")
    return username


def setup_code_hash(code: str) -> str:
    """How a setup code is stored and matched (128 random bits: SHA-256 is enough)."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


def narrows(before: Person, after: Person) -> bool:
    """True if ``after`` allows less than ``before`` in any way a token could carry (requiring
    MFA included: tokens of logins without it die)."""
    if (after.disabled and not before.disabled) or after.tenant != before.tenant:
        return True
    if after.mfa_required and not before.mfa_required:
        return True
    return bool(
        set(before.allowed_scopes) - set(after.allowed_scopes)
        or set(before.allowed_audiences) - set(after.allowed_audiences)
    )


@dataclass(frozen=True, slots=True)
class PersonFilter:
    """A parsed ListUsers filter: a conjunction of equality terms."""

    tenant: str | None = None
    disabled: bool | None = None

    @classmethod
    def parse(cls, text: str) -> PersonFilter:
        """Parse ``disabled=false tenant=acme`` (terms joined by space or AND)."""
        values: dict[str, Any] = {}
        for term in (t for t in re.split(r"\s+(?:AND\s+)?", text.strip()) if t):
            name, sep, value = term.partition("=")
            if not sep or not value:
                raise InvalidArgument(f"filter: term {term[:80]!r} is not NAME=VALUE")
            if name == "tenant":
                values["tenant"] = value
            elif name == "disabled" and value in ("true", "false"):
                values["disabled"] = value == "true"
            elif name == "disabled":
                raise InvalidArgument("filter: disabled must be true or false")
            else:
                raise InvalidArgument(f"filter: unknown field {name[:40]!r} (tenant, disabled)")
        return cls(**values)


class PersonStore(Protocol):
    """What the people registry needs of the store (tests/store checks every backend)."""

    def create_person(self, person: Person) -> Person:
        """Insert; AlreadyExists if the user name is taken. Returns it with its etag."""
        ...

    def get_person(self, username: str) -> Person:
        """The person, or NotFound."""
        ...

    def list_people(self, *, after: str, limit: int, flt: PersonFilter) -> list[Person]:
        """Up to ``limit`` people with username > ``after``, ordered by username."""
        ...

    def update_person(self, person: Person, *, expected_etag: str) -> Person:
        """Replace if the stored etag equals ``expected_etag`` (else Conflict)."""
        ...

    def delete_person(self, username: str, *, expected_etag: str | None) -> None:
        """Delete (NotFound if absent, Conflict on a stale etag)."""
        ...


class PasswordPolicy:
    """NIST SP 800-63B: length, the user name, a list of common passwords; nothing else."""

    def __init__(self, common: Iterable[str]) -> None:
        self._common = frozenset(p.casefold() for p in common)

    def check(self, password: str, *, username: str) -> str:
        """The password as it is hashed (NFKC), or InvalidArgument saying which rule it breaks."""
        text = unicodedata.normalize("NFKC", password)
        if not MIN_PASSWORD <= len(text) <= MAX_PASSWORD:
            raise InvalidArgument(f"password: must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        folded = text.casefold()
        if username and username.casefold() in folded:
            raise InvalidArgument("password: must not contain the user name")
        if folded in self._common:
            raise InvalidArgument("password: is one of the most common passwords; choose another")
        return text


class PasswordHasher:
    """Argon2id hashes (argon2-cffi); ``verify`` of an unknown user costs the same as a known one."""

    def __init__(self, *, memory_kib: int = 65536, time_cost: int = 3, parallelism: int = 4) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=argon2.Type.ID
        )
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()

    def hash(self, password: str) -> str:
        """A new Argon2id hash of ``password`` (already checked by the policy)."""
        return self._hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        """True if ``password`` matches ``stored``; '' (no password, or no such user) is checked
        against a dummy hash, so the work and the answer are the same as a wrong password's."""
        target = stored or self._dummy_hash()
        try:
            return self._hasher.verify(target, unicodedata.normalize("NFKC", password)) and bool(stored)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """True when ``stored`` was made with other parameters than this hasher's."""
        return self._hasher.check_needs_rehash(stored)

    def _dummy_hash(self) -> str:
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = self._hasher.hash("not a password: the work of checking an unknown user")
            return self._dummy


#: end_sessions(username, reason): end every refresh family of the person; how many ended.
EndSessions = Callable[[str, str], int]
#: erase_sessions(username): delete every refresh family of a deleted person; how many.
EraseSessions = Callable[[str], int]


class PeopleRegistry:
    """Create, read, update and delete people (broker.admin), with validation and etags.

    ``lookup`` serves token checks from memory for ``cache_ttl`` like IdentityRegistry's;
    writes through this registry drop the entry at once.
    """

    def __init__(
        self,
        store: PersonStore,
        clock: Clock,
        auditor: Auditor,
        *,
        policy: PasswordPolicy,
        hasher: PasswordHasher,
        end_sessions: EndSessions,
        erase_sessions: EraseSessions,
        cache_ttl: timedelta = timedelta(seconds=2),
    ) -> None:
        self._store = store
        self._clock = clock
        self._auditor = auditor
        self.policy = policy
        self.hasher = hasher
        self._end_sessions = end_sessions
        self._erase_sessions = erase_sessions
        self._cache: ReadCache[Person] = ReadCache(clock, cache_ttl)

    def lookup(self, username: str) -> Person:
        """The person, possibly up to ``cache_ttl`` old (NotFound if unknown)."""
        return self._cache.get(username, self._store.get_person)

    def forget(self, username: str) -> None:
        """Drop the cached record of ``username`` (after a write)."""
        self._cache.forget(username)

    def _validate(self, person: Person) -> Person:
        validate_username(person.username)
        if person.tenant and not TENANT_PATTERN.match(person.tenant):
            raise InvalidArgument("tenant: lowercase letters, digits, '.', '_' and '-', at most 63")
        if len(person.display_name) > 200:
            raise InvalidArgument("display_name: at most 200 characters")
        return dataclasses.replace(
            person,
            allowed_scopes=validate_scopes(person.allowed_scopes, "allowed_scopes"),
            allowed_audiences=validate_audiences(person.allowed_audiences, "allowed_audiences"),
        )

    def create(self, person: Person, *, password: str, by: Principal) -> tuple[Person, str]:
        """Store a new person and return them with their setup code: with ``password`` (checked
        by the policy) they log in at once and the code is ''; without, the code (good once,
        for 24 h) lets them choose a password (``Logins.redeem_setup_code``)."""
        by.require(ADMIN_SCOPE)
        valid = self._validate(dataclasses.replace(person, username=normalise_username(person.username)))
        hashed = self._hash_new(password, valid.username) if password else ""
        now = self._clock.now()
        code = "" if password else f"{SETUP_CODE_PREFIX}{secrets.token_urlsafe(16)}"
        created = self._store.create_person(
            dataclasses.replace(
                valid, password_hash=hashed, create_time=now, update_time=now, tokens_valid_from=now,
                setup_code_hash=setup_code_hash(code) if code else "",
                setup_code_expire_time=now + SETUP_CODE_TTL if code else None,
            )
        )  # fmt: skip
        self.forget(created.username)
        self._auditor.record("user.create", by=by, target=created.username, password_set=bool(hashed))
        return created, code

    def get(self, username: str) -> Person:
        """The person, or NotFound."""
        return self._store.get_person(validate_username(normalise_username(username)))

    def list(self, *, page_size: int, page_token: str, filter_text: str) -> tuple[list[Person], str]:
        """One page ordered by user name, and the token of the next page ('' at the end)."""
        size = pages.page_size(page_size)
        if page_token and not USERNAME_PATTERN.match(page_token):
            raise InvalidArgument("page_token: not a token this server issued")
        items = self._store.list_people(after=page_token, limit=size + 1, flt=PersonFilter.parse(filter_text))
        return pages.page(items, size, lambda person: person.username)

    def update(
        self, username: str, changes: Mapping[str, Any], *, by: Principal, etag: str = "", password: str = ""
    ) -> Person:
        """Apply ``changes`` (field -> value) and, with ``password``, reset the password; a
        non-empty etag must match. A reset or a narrowing kills the person's tokens and
        ends their sessions."""
        by.require(ADMIN_SCOPE)
        if changes:
            check_mask(changes, MUTABLE_FIELDS)
        elif not password:
            raise InvalidArgument("update_mask: name at least one field, or give a password")
        current = self.get(username)
        now = self._clock.now()
        updated = self._validate(dataclasses.replace(current, **changes, update_time=now))
        if password:
            updated = dataclasses.replace(updated, password_hash=self._hash_new(password, current.username))
        kills = bool(password) or narrows(current, updated)
        if kills:
            updated = dataclasses.replace(updated, tokens_valid_from=now)
        self.forget(current.username)
        stored = self._store.update_person(updated, expected_etag=etag or current.etag)
        ended = self._end_sessions(stored.username, "password reset" if password else "narrowed") if kills else 0
        fields = sorted(changes) + (["password"] if password else [])
        self._auditor.record("user.update", by=by, target=stored.username, fields=fields, sessions_ended=ended)
        return stored

    def delete(self, username: str, *, by: Principal, etag: str = "") -> None:
        """Erase the person (their second factor with them) and their logins, whose tokens die;
        a non-empty etag must match. Audit events naming them stay (the chain is evidence)."""
        by.require(ADMIN_SCOPE)
        name = validate_username(normalise_username(username))
        self.forget(name)
        self._store.delete_person(name, expected_etag=etag or None)
        erased = self._erase_sessions(name)
        self._auditor.record("user.delete", by=by, target=name, sessions_erased=erased)

    def change_own_password(self, person: Person, new_password: str, *, by: Principal) -> Person:
        """Store ``new_password`` for ``person`` (whose current one the caller proved); their
        other tokens die and every session ends."""
        now = self._clock.now()
        updated = dataclasses.replace(
            person, password_hash=self._hash_new(new_password, person.username), update_time=now, tokens_valid_from=now
        )
        self.forget(person.username)
        stored = self._store.update_person(updated, expected_etag=person.etag)
        ended = self._end_sessions(person.username, "password changed")
        self._auditor.record("auth.password_change", by=by, target=person.username, sessions_ended=ended)
        return stored

    def store_mfa(self, person: Person, state: MfaState) -> Person:
        """Store a new second-factor state for ``person`` at its etag (Conflict if it changed:
        of two racing uses of one code, one wins)."""
        self.forget(person.username)
        return self._store.update_person(
            dataclasses.replace(person, mfa=state, update_time=self._clock.now()), expected_etag=person.etag
        )

    def set_first_password(self, person: Person, password: str) -> Person:
        """Store the password a person chose with their setup code, which dies (one use: of
        two racing redemptions one wins)."""
        now = self._clock.now()
        updated = dataclasses.replace(
            person, password_hash=self._hash_new(password, person.username), setup_code_hash="",
            setup_code_expire_time=None, update_time=now,
        )  # fmt: skip
        self.forget(person.username)
        return self._store.update_person(updated, expected_etag=person.etag)

    def rehash(self, person: Person, password: str) -> Person:
        """Re-hash a just-verified password whose hash has older parameters; the person as now
        stored (best effort: a concurrent change wins, is read back, and the next login tries again)."""
        updated = dataclasses.replace(person, password_hash=self.hasher.hash(unicodedata.normalize("NFKC", password)))
        self.forget(person.username)
        try:
            return self._store.update_person(updated, expected_etag=person.etag)
        except BrokerError:
            return self._store.get_person(person.username)

    def _hash_new(self, password: str, username: str) -> str:
        """The Argon2id hash of a new password, which the policy must pass first."""
        return self.hasher.hash(self.policy.check(password, username=username))
