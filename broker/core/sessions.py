"""Logging people in: password logins, refresh-token families with reuse detection, logout.

A login starts a *family*: one refresh token now, a new one at each refresh, each
refresh token good for exactly one use. The family's id is the ``sid`` claim of every
access token it yields (and of every token exchanged or delegated from those), so
ending the family kills them all (core/liveness.py). A family ends on logout, when a
refresh token is used a second time (a copy is in someone else's hands: the whole
family is revoked and the reuse audited as a likely theft), when its person changes or
resets the password, is disabled, deleted or narrowed (people.py), and it lapses when
unused for ``idle`` or at ``absolute`` after the login, which refreshes never extend.

Refresh tokens are opaque: ``brt_`` then 256 random bits (base64url). The store keeps
only their SHA-256 and finds a token by it; a token the broker never issued and one of an
ended family get the same answer. Every failed login counts toward throttling
(throttle.py), and an unknown user, a wrong password, a disabled or a locked account,
a wrong or replayed one-time code get one answer (``BAD_LOGIN``) after the same work.
A person enrolled in MFA (mfa.py) needs a one-time code as well (``amr`` pwd, otp, mfa);
one required to have MFA but not yet enrolled gets a token with no scopes, good only
for enrolling (enrolment.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn, Protocol

from .audit import Auditor
from .clock import Clock
from .errors import Conflict, FailedPrecondition, InvalidArgument, NotFound, Unauthenticated
from .exchange import narrow, narrow_scopes
from .identities import covers
from .mfa import matching_step, used_recovery_code
from .people import HUMAN_KIND, PeopleRegistry, Person, normalise_username, own_username, setup_code_hash
from .principals import ADMIN_SCOPE, Principal
from .throttle import LoginThrottle
from .tokens import MintedToken, TokenCore

REFRESH_PREFIX = "brt_"
#: The one answer to a login that fails, whatever the reason.
BAD_LOGIN = "invalid user name or password"
BAD_REFRESH = "invalid refresh token"
#: The answer to the right password of a person with MFA, sent without a one-time code.
OTP_REQUIRED = "a one-time code is required (from the authenticator app, or a recovery code)"
_FAMILY_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class RefreshFamily:
    """The refresh tokens descended from one login, and what their access tokens carry."""

    id: str
    username: str
    tenant: str
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    amr: tuple[str, ...]
    create_time: datetime
    last_used_time: datetime
    #: The absolute end: create_time + the absolute lifetime; refreshes never move it.
    expire_time: datetime
    end_time: datetime | None = None
    end_reason: str = ""

    def expires_at(self, idle: timedelta) -> datetime:
        """When the family lapses if not used again."""
        return min(self.last_used_time + idle, self.expire_time)

    def alive(self, now: datetime, idle: timedelta) -> bool:
        """True while not ended and not lapsed."""
        return self.end_time is None and now < self.expires_at(idle)


class SessionStore(Protocol):
    """Refresh families and the hashes of their tokens (tests/store checks every backend)."""

    def create_family(self, family: RefreshFamily, token_hash: str) -> None:
        """Store a new family with its first refresh token's hash."""
        ...

    def find_refresh_token(self, token_hash: str) -> tuple[RefreshFamily, bool] | None:
        """The family of the token with this hash and whether the token was used; None if unknown."""
        ...

    def rotate_refresh_token(self, token_hash: str, new_hash: str, now: datetime) -> bool:
        """Mark the token used and add ``new_hash`` to its family (last used: ``now``), as one
        step; False (and nothing written) if the token was already used."""
        ...

    def get_family(self, family_id: str) -> RefreshFamily | None:
        """The family, or None."""
        ...

    def end_family(self, family_id: str, now: datetime, reason: str) -> bool:
        """End the family (its tokens are dead for good); False if it was already ended or unknown."""
        ...

    def end_families_of(self, username: str, now: datetime, reason: str) -> int:
        """End every live family of ``username``; how many."""
        ...

    def list_families_of(self, username: str) -> list[RefreshFamily]:
        """Every family of ``username``, live or ended, oldest first."""
        ...

    def delete_families_of(self, username: str) -> int:
        """Erase every family of ``username`` (a deleted person's); how many. Their tokens die with them."""
        ...

    def purge_families(self, before: datetime, *, limit: int) -> int:
        """Erase up to ``limit`` families whose absolute end is at or before ``before`` (every
        token of theirs has expired by then) with their refresh tokens; how many."""
        ...


def refresh_hash(token: str) -> str:
    """The hash under which a refresh token is stored and found."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenPair:
    """An access token and the refresh token that replaces it."""

    access: MintedToken
    refresh_token: str
    refresh_expires_at: datetime


@dataclass(frozen=True, slots=True)
class SessionLifetimes:
    """How long a person's tokens live."""

    access: timedelta = timedelta(minutes=15)
    idle: timedelta = timedelta(hours=12)
    absolute: timedelta = timedelta(days=7)


class Logins:
    """People's logins: password (and second factor), setup codes, refresh, logout, password
    change, unlock; and the purge of what lapsed logins leave behind."""

    def __init__(
        self,
        people: PeopleRegistry,
        store: SessionStore,
        throttle: LoginThrottle,
        tokens: TokenCore,
        auditor: Auditor,
        clock: Clock,
        *,
        lifetimes: SessionLifetimes | None = None,
        mfa_for_admins: bool = False,
    ) -> None:
        self._people = people
        self._store = store
        self._throttle = throttle
        self._tokens = tokens
        self._auditor = auditor
        self._clock = clock
        self.lifetimes = lifetimes or SessionLifetimes()
        self._mfa_for_admins = mfa_for_admins

    # login -----------------------------------------------------------------------------
    def login(
        self,
        username: str,
        password: str,
        *,
        scopes: Sequence[str],
        audiences: Sequence[str],
        by: Principal,
        otp: str = "",
    ) -> TokenPair:
        """Check the password (and, when enrolled, the one-time code ``otp``) and start a family;
        one answer for every failure (``BAD_LOGIN``). Without ``otp`` where one is needed:
        FailedPrecondition ``OTP_REQUIRED`` (only after the right password)."""
        name = normalise_username(username)
        if not name or len(name) > 128 or len(password) > 1024 or len(otp) > 64:
            raise InvalidArgument("username, password, otp: 1-128, at most 1024 and at most 64 characters")
        locked = self._throttle.check(name, by.peer)  # RateLimited when it must wait
        person = self._person_or_none(name)
        matches = self._people.hasher.verify(person.password_hash if person else "", password)
        reason = self._refusal(person, matches, locked)
        if reason or person is None:
            self._fail(name, reason or "unknown user", by)
        if self._people.hasher.needs_rehash(person.password_hash):
            person = self._people.rehash(person, password)
        amr: tuple[str, ...] = ("pwd",)
        if person.mfa.enrolled:
            if not otp.strip():
                raise FailedPrecondition(OTP_REQUIRED)
            person = self._second_factor(person, otp.strip(), by)
            amr = ("pwd", "otp", "mfa")
        self._throttle.succeeded(name)
        granted = self._grant(person, scopes, audiences)
        pair = self._start(person, *granted, amr=amr)
        self._auditor.record(
            "auth.login", by=by, actor=person.subject, subject=person.subject, target=person.username,
            amr=list(amr), scopes=list(granted[0]), jti=pair.access.jti, must_enrol_mfa=self._must_enrol(person),
        )  # fmt: skip
        return pair

    def _must_enrol(self, person: Person) -> bool:
        required = person.mfa_required or (self._mfa_for_admins and ADMIN_SCOPE in person.allowed_scopes)
        return required and not person.mfa.enrolled

    def _second_factor(self, person: Person, code: str, by: Principal) -> Person:
        """Accept a TOTP code of a step after the last one accepted, or an unused recovery code,
        and store that it was used (compare-and-set: of two racing uses one wins); else fail."""
        state = person.mfa
        assert state.seed is not None  # enrolled
        step = matching_step(state.seed, code, self._clock.now())
        if step is not None:
            if step <= state.last_step:
                self._fail(person.username, "replayed one-time code", by)
            used = dataclasses.replace(state, last_step=step)
        else:
            left = used_recovery_code(state, code)
            if left is None:
                self._fail(person.username, "wrong one-time code", by)
            used = dataclasses.replace(state, recovery_hashes=left)
        try:
            stored = self._people.store_mfa(person, used)
        except Conflict:
            self._fail(person.username, "one-time code used concurrently", by)
        if step is None:
            self._auditor.record(
                "auth.recovery_code", by=by, actor=person.subject, subject=person.subject, target=person.username,
                left=len(used.recovery_hashes),
            )  # fmt: skip
        return stored

    def _person_or_none(self, name: str) -> Person | None:
        try:
            return self._people.get(name)
        except (NotFound, InvalidArgument):
            return None

    @staticmethod
    def _refusal(person: Person | None, matches: bool, locked: bool) -> str:
        """Why a login is refused ('' when it is not); for the audit trail only."""
        if person is None:
            return "unknown user"
        if not person.password_hash:
            return "no password set"
        if not matches:
            return "wrong password"
        if locked:
            return "locked"
        if person.disabled:
            return "disabled"
        return ""

    def _fail(self, name: str, reason: str, by: Principal) -> NoReturn:
        locked_now = self._throttle.failed(name, by.peer)
        self._auditor.record("auth.login", by=by, target=name, outcome="failure", reason=reason)
        if locked_now:
            self._auditor.record("auth.lockout", by=by, target=name, outcome="failure")
        raise Unauthenticated(BAD_LOGIN, detail=reason)

    def _grant(
        self, person: Person, scopes: Sequence[str], audiences: Sequence[str]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The scopes (``scopes`` or all allowed) and audiences (``audiences`` or the issuer) asked
        for; none and the issuer alone while the person must still enrol a second factor (a
        token good only for enrolling)."""
        if self._must_enrol(person):
            return (), (self._tokens.issuer,)
        granted = narrow_scopes(scopes, person.allowed_scopes, holder=person.username)
        allowed = (self._tokens.issuer, *person.allowed_audiences)
        return granted, narrow(audiences or (self._tokens.issuer,), allowed, "audience", person.username)

    def _start(
        self, person: Person, scopes: tuple[str, ...], audiences: tuple[str, ...], *, amr: tuple[str, ...]
    ) -> TokenPair:
        now = self._clock.now()
        family = RefreshFamily(
            id=secrets.token_urlsafe(_FAMILY_ID_BYTES), username=person.username, tenant=person.tenant,
            scopes=scopes, audiences=audiences, amr=amr, create_time=now, last_used_time=now,
            expire_time=now + self.lifetimes.absolute,
        )  # fmt: skip
        refresh = f"{REFRESH_PREFIX}{secrets.token_urlsafe(32)}"
        self._store.create_family(family, refresh_hash(refresh))
        return TokenPair(self._mint(person, family), refresh, family.expires_at(self.lifetimes.idle))

    def _mint(self, person: Person, family: RefreshFamily) -> MintedToken:
        return self._tokens.mint(
            subject=person.subject, client_id=person.subject, kind=HUMAN_KIND, tenant=person.tenant,
            scopes=family.scopes, audiences=family.audiences, ttl=self.lifetimes.access, amr=family.amr,
            sid=family.id, not_after=family.expire_time,
        )  # fmt: skip

    # refresh and logout ------------------------------------------------------------------
    def refresh(self, token: str, *, by: Principal) -> TokenPair:
        """A new pair for a live refresh token, which dies; a second use ends the whole family."""
        family, person = self._live_family(token, by)
        replacement = f"{REFRESH_PREFIX}{secrets.token_urlsafe(32)}"
        now = self._clock.now()
        if not self._store.rotate_refresh_token(refresh_hash(token), refresh_hash(replacement), now):
            self._reused(family, by)  # used by someone else between our read and our write
        live = dataclasses.replace(family, last_used_time=now)
        access = self._mint(person, live)
        self._auditor.record(
            "auth.refresh", by=by, actor=person.subject, subject=person.subject, target=person.username,
            sid=family.id, jti=access.jti,
        )  # fmt: skip
        return TokenPair(access, replacement, live.expires_at(self.lifetimes.idle))

    def logout(self, token: str, *, by: Principal) -> None:
        """End the refresh token's family; an unknown or dead token is not an error (RFC 7009)."""
        found = self._find(token)
        if found is None:
            return
        family = found[0]
        if self._store.end_family(family.id, self._clock.now(), "logout"):
            subject = f"user:{family.username}"
            self._auditor.record(
                "auth.logout", by=by, actor=subject, subject=subject, target=family.username, sid=family.id
            )

    def redeem_setup_code(self, username: str, code: str, new_password: str, *, by: Principal) -> TokenPair:
        """A person without a password proves the setup code an admin gave them, chooses a
        password (the policy applies) and is logged in; the code dies. A wrong, used or
        expired code is a failed login like any other."""
        name = normalise_username(username)
        if not name or len(name) > 128 or len(code) > 128 or len(new_password) > 1024:
            raise InvalidArgument("username, setup_code, new_password: too long")
        locked = self._throttle.check(name, by.peer)
        person = self._person_or_none(name)
        stored = person.setup_code_hash if person is not None else ""
        expires = person.setup_code_expire_time if person is not None else None
        fresh = expires is not None and self._clock.now() < expires
        if person is None or not stored or not hmac.compare_digest(stored, setup_code_hash(code)) or not fresh:
            self._fail(name, "wrong, used or expired setup code", by)
        if locked or person.disabled:
            self._fail(name, "locked" if locked else "disabled", by)
        try:
            person = self._people.set_first_password(person, new_password)
        except Conflict:
            self._fail(name, "setup code used concurrently", by)
        self._throttle.succeeded(name)
        pair = self._start(person, *self._grant(person, (), ()), amr=("pwd",))
        self._auditor.record(
            "auth.setup", by=by, actor=person.subject, subject=person.subject, target=person.username,
            jti=pair.access.jti,
        )  # fmt: skip
        return pair

    def change_password(self, current: str, new: str, *, by: Principal) -> None:
        """The caller, a person holding their own (undelegated) token, proves ``current`` and sets ``new``."""
        username = own_username(by)
        self._throttle.check(username, by.peer)
        person = self._person_or_none(username)
        if person is None or not self._people.hasher.verify(person.password_hash, current):
            self._fail(username, "wrong current password", by)
        self._people.change_own_password(person, new, by=by)

    def unlock(self, username: str, *, by: Principal) -> bool:
        """Clear a lockout (broker.admin); True if there was a count to clear."""
        by.require(ADMIN_SCOPE)
        name = normalise_username(username)
        cleared = self._throttle.unlock(name)
        self._auditor.record("auth.unlock", by=by, target=name, cleared=cleared)
        return cleared

    def purge(self, now: datetime, *, limit: int = 1000) -> int:
        """Erase lapsed logins and closed failed-login windows (the scheduler's purge_expired):
        what people leave behind stays bounded. Returns how many records went."""
        return self._store.purge_families(now, limit=limit) + self._throttle.purge(now, limit=limit)

    def is_live_session(self, family_id: str) -> bool:
        """True while the family with this id (a token's ``sid``) is not ended (liveness.py)."""
        family = self._store.get_family(family_id)
        return family is not None and family.end_time is None

    def _find(self, token: str) -> tuple[RefreshFamily, bool] | None:
        """The family of a refresh token and whether it was used; None for anything else."""
        return self._store.find_refresh_token(refresh_hash(token)) if token.startswith(REFRESH_PREFIX) else None

    def _live_family(self, token: str, by: Principal) -> tuple[RefreshFamily, Person]:
        found = self._find(token)
        if found is None:
            raise invalid_refresh("unknown refresh token")
        family, used = found
        if used and family.end_time is None:
            self._reused(family, by)
        now = self._clock.now()
        if not family.alive(now, self.lifetimes.idle):
            raise invalid_refresh(family.end_reason or "refresh family lapsed")
        person = self._person_or_none(family.username)
        valid_from = person.valid_from() if person else None
        if person is None or person.disabled or (valid_from is not None and family.create_time < valid_from):
            self._store.end_family(family.id, now, "person changed")
            raise invalid_refresh("the person was disabled, deleted or changed since the login")
        if not all(covers(person.allowed_scopes, s) for s in family.scopes):
            self._store.end_family(family.id, now, "scope withdrawn")
            raise invalid_refresh("a scope of the login is no longer allowed")
        return family, person

    def _reused(self, family: RefreshFamily, by: Principal) -> None:
        self._store.end_family(family.id, self._clock.now(), "refresh token reused")
        subject = f"user:{family.username}"
        self._auditor.record(
            "auth.refresh_reuse", by=by, actor=subject, subject=subject, target=family.username, outcome="failure",
            sid=family.id, reason="a used refresh token was presented again: the family is revoked",
        )  # fmt: skip
        raise invalid_refresh("refresh token reused; family revoked")


def invalid_refresh(detail: str) -> Unauthenticated:
    """The one error a caller sees for a refresh token that does not count."""
    return Unauthenticated(BAD_REFRESH, detail=detail)
