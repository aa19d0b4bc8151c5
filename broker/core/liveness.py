"""The one "is this broker token still good" check, for every path that accepts one.

A broker token presented to the broker (bearer, subject token, actor chain,
introspection) counts only while it verifies (signature, claims, not revoked) and every
identity it names (its subject, each actor of its chain) still exists, is enabled, was
not narrowed since the token was issued (``Identity.valid_from``: re-created, disabled,
a scope or audience removed, ...), and still allows every scope and audience the token
carries. So a token never carries more than its identities allow now.

Which holders a token names depends on its ``kind``; each kind has its check here, and
a kind without one fails closed. A person's token (kind human) counts while the person
exists, is enabled, was not narrowed since, still allows its scopes and audiences, and
its login (``sid``, a refresh family) has not ended (core/sessions.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from .attestation import IdentityLookup
from .errors import InvalidArgument, NotFound
from .identities import MACHINE_KINDS, Identity, covers
from .people import HUMAN_KIND, Person, username_of
from .tokens import AccessClaims, TokenCore, invalid

#: people(username): the person, or NotFound.
PersonLookup = Callable[[str], Person]
#: live_session(sid): True while the login (refresh family) with this id has not ended.
SessionCheck = Callable[[str], bool]

#: SPIFFE trust domain names: lowercase letters, digits, '.', '-' and '_'.
TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]{1,255}$")


class LiveTokens:
    """Verifies broker tokens and checks that their holders still allow what they carry."""

    def __init__(
        self,
        tokens: TokenCore,
        lookup: IdentityLookup,
        *,
        trust_domain: str = "",
        people: PersonLookup | None = None,
        live_session: SessionCheck | None = None,
    ) -> None:
        if trust_domain and not TRUST_DOMAIN.match(trust_domain):
            raise ValueError(
                f"trust domain {trust_domain!r} is not a SPIFFE trust domain (lowercase letters, digits, '.', '-', '_')"
            )
        self._tokens = tokens
        self._lookup = lookup
        self._spiffe_prefix = f"spiffe://{trust_domain}/identity/" if trust_domain else ""
        self._checks: dict[str, Callable[[AccessClaims], None]] = dict.fromkeys(MACHINE_KINDS, self._identities_allow)
        if people is not None and live_session is not None:
            self._people, self._live_session = people, live_session
            self._checks[HUMAN_KIND] = self._person_allows

    # identity <-> subject -----------------------------------------------------------
    def subject_of(self, identity: Identity) -> str:
        """The sub claim for an identity: its id, or its SPIFFE ID with a trust domain."""
        return f"{self._spiffe_prefix}{identity.id}"

    def _identity_id_of(self, subject: str) -> str | None:
        """The identity id a machine token's sub names, or None if it names none."""
        if not self._spiffe_prefix:
            return subject
        return subject.removeprefix(self._spiffe_prefix) if subject.startswith(self._spiffe_prefix) else None

    # the check -------------------------------------------------------------------------
    def verify(self, token: str) -> AccessClaims:
        """A broker token that verifies and that its every named holder still allows (module docstring)."""
        claims = self._tokens.verify(token, audience=None)
        check = self._checks.get(claims.kind)
        if check is None:
            raise invalid(f"kind {claims.kind[:40]!r} names no holder this broker checks")
        check(claims)
        return claims

    def _identities_allow(self, claims: AccessClaims) -> None:
        """A machine token: its subject identity and every agent of its chain still allow it."""
        subject_id = self._identity_id_of(claims.subject)
        if subject_id is None:
            raise invalid("sub is not an identity of this trust domain")
        subject = _still_there("identity", subject_id, self._lookup, claims)
        self._still_allowed(claims, subject.id, subject.allowed_scopes, subject.allowed_audiences)
        self._agents_allow(claims)

    def _person_allows(self, claims: AccessClaims) -> None:
        """A person's token: the person, their login, and every agent of its chain still allow it."""
        username = username_of(claims.subject)
        if username is None:
            raise invalid("sub is not a person")
        person = _still_there("person", username, self._people, claims)
        if not claims.sid or not self._live_session(claims.sid):
            raise invalid("the login this token descends from has ended")
        self._still_allowed(claims, username, person.allowed_scopes, person.allowed_audiences)
        self._agents_allow(claims)

    def _agents_allow(self, claims: AccessClaims) -> None:
        """Every agent of the token's delegation chain still exists and may delegate what it carries."""
        for act in claims.actors:
            client_id = act.get("client_id")
            if not isinstance(client_id, str):
                raise invalid("malformed act claim")
            agent = _still_there("identity", client_id, self._lookup, claims)
            self._still_allowed(claims, agent.id, agent.delegable_scopes, agent.allowed_audiences)

    def _still_allowed(
        self, claims: AccessClaims, holder: str, scopes: Sequence[str], audiences: Sequence[str]
    ) -> None:
        """Every scope and audience of the token is still allowed to ``holder``."""
        for scope in claims.scopes:
            if not covers(scopes, scope):
                raise invalid(f"scope {scope[:80]} is no longer allowed for {holder}")
        for audience in claims.audiences:
            if audience != self._tokens.issuer and audience not in audiences:
                raise invalid(f"audience {audience[:80]} is no longer allowed for {holder}")


Holder = TypeVar("Holder", Identity, Person)


def _still_there(what: str, key: str, lookup: Callable[[str], Holder], claims: AccessClaims) -> Holder:
    """The identity or person a token names, if it exists, is enabled and was not narrowed
    (or re-created, or its password reset) since the token was issued."""
    try:
        holder = lookup(key)
    except (NotFound, InvalidArgument):
        raise invalid(f"{what} {key[:80]} no longer exists") from None
    if holder.disabled:
        raise invalid(f"{what} {key} is disabled")
    valid_from = holder.valid_from()
    if valid_from is not None and claims.issued_at < valid_from:
        raise invalid(f"issued before {what} {key} was created, disabled or narrowed")
    return holder
