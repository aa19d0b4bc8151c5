"""MFA enrolment: a person adds TOTP to their own account; an admin resets it (mfa.py has the rules).

Only the person, with their own undelegated token, enrols: ``start`` stores a new
unconfirmed seed and returns its otpauth URI once; ``confirm`` with the first valid code
turns it on and returns the ten recovery codes, the only time they are ever shown. An
account already enrolled cannot be re-enrolled by its holder (a stolen session must not
be able to move the second factor): an admin resets it first.
"""

from __future__ import annotations

import dataclasses

from .audit import Auditor
from .clock import Clock
from .errors import FailedPrecondition, Unauthenticated
from .mfa import MfaState, matching_step, new_recovery_codes, new_seed, provisioning_uri, recovery_hash
from .people import PeopleRegistry, own_username
from .principals import ADMIN_SCOPE, Principal
from .throttle import LoginThrottle


class MfaEnrolment:
    """Starts and confirms a person's TOTP enrolment; resets it for admins."""

    def __init__(
        self, people: PeopleRegistry, throttle: LoginThrottle, auditor: Auditor, clock: Clock, *, issuer_name: str
    ) -> None:
        self._people = people
        self._throttle = throttle
        self._auditor = auditor
        self._clock = clock
        self._issuer_name = issuer_name

    def start(self, *, by: Principal) -> str:
        """Store a new unconfirmed seed for the caller; its otpauth:// URI (show it once)."""
        person = self._people.get(own_username(by))
        if person.mfa.enrolled:
            raise FailedPrecondition("MFA is already enrolled; an admin resets it (broker admin user reset-mfa)")
        seed = new_seed()
        self._people.store_mfa(person, MfaState(seed=seed))
        self._auditor.record("auth.mfa_enroll", by=by, target=person.username, outcome="started")
        return provisioning_uri(seed, account=person.username, issuer=self._issuer_name)

    def confirm(self, code: str, *, by: Principal) -> list[str]:
        """Turn on the pending seed with its first valid code; the recovery codes (shown once)."""
        username = own_username(by)
        self._throttle.check(username, by.peer)
        person = self._people.get(username)
        pending = person.mfa
        if pending.seed is None or pending.enrolled:
            raise FailedPrecondition("no MFA enrolment is pending; start one with `broker mfa enroll`")
        step = matching_step(pending.seed, code.strip(), self._clock.now())
        if step is None:
            self._throttle.failed(username, by.peer)
            self._auditor.record("auth.mfa_enroll", by=by, target=username, outcome="failure", reason="wrong code")
            raise Unauthenticated("invalid one-time code")
        codes = new_recovery_codes()
        confirmed = dataclasses.replace(
            pending, confirmed=True, last_step=step, recovery_hashes=tuple(recovery_hash(c) for c in codes)
        )
        self._people.store_mfa(person, confirmed)
        self._auditor.record("auth.mfa_enroll", by=by, target=username, recovery_codes=len(codes))
        return codes

    def reset(self, username: str, *, by: Principal) -> None:
        """Remove a person's second factor (broker.admin); they may enrol again."""
        by.require(ADMIN_SCOPE)
        person = self._people.get(username)
        self._people.store_mfa(person, MfaState())
        self._auditor.record("auth.mfa_reset", by=by, target=person.username, was_enrolled=person.mfa.enrolled)
