"""Verifiers for presented attestations (subject and actor tokens): self-signed assertions.

A self-signed assertion (RFC 7523 style) is a JWT with iss = sub = the identity id,
aud = the broker's issuer, a short life (exp - iat at most five minutes, iat not in the
future beyond the leeway) and a unique jti, signed by a key registered on the identity:
the one its ``kid`` names, or without a kid, the identity's only active key of the
assertion's algorithm.
It is accepted once: its jti is recorded in the store (so across restarts and replicas)
until exp + leeway, the last moment the assertion could still pass the time checks.

Every failure here is the same ``Unauthenticated("invalid attestation")`` for the
caller; the reason travels in ``detail`` to the log and the audit event only.
(JWTs of trusted external issuers are verified by ``external.ExternalIssuerVerifier``.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from . import jwk as jwks
from . import jws
from .algorithms import SIGNING
from .clock import Clock
from .errors import InvalidArgument, NotFound, Unauthenticated
from .identities import Identity, IdentityKey
from .tokens import ACCESS_TOKEN_TYP, DEFAULT_LEEWAY, audiences_of, check_times

MAX_ASSERTION_LIFETIME = timedelta(minutes=5)
MAX_JTI_LENGTH = 256

#: consume(key, expires_at, now) -> True the first time a key is seen before it expires.
ReplayCheck = Callable[[str, datetime, datetime], bool]
IdentityLookup = Callable[[str], Identity]


class ReplayStore(Protocol):
    """Single-use records (assertion and external token jtis): each accepted once until it expires."""

    def consume_jti(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """Record a single-use id; False if it was already recorded and has not expired."""
        ...

    def consume_jtis(self, items: Sequence[tuple[str, datetime]], now: datetime) -> list[bool]:
        """``consume_jti`` for a batch in one transaction (group commit), one answer per item;
        a key repeated within the batch is consumed by its first occurrence only."""
        ...

    def purge_expired(self, now: datetime) -> int:
        """Drop replay and revocation records past their expiry; returns how many."""
        ...


def bad_attestation(detail: str) -> Unauthenticated:
    """The one error a caller sees for a bad attestation."""
    return Unauthenticated("invalid attestation", detail=detail)


def lookup_identity(lookup: IdentityLookup, identity_id: str) -> Identity:
    """The enabled identity ``identity_id``; a bad attestation if it is unknown or disabled."""
    try:
        identity = lookup(identity_id)
    except (NotFound, InvalidArgument):
        raise bad_attestation("unknown identity") from None
    if identity.disabled:
        raise bad_attestation(f"identity {identity.id} is disabled")
    return identity


def consume_once(consume: ReplayCheck, key: str, exp: datetime, now: datetime, leeway: timedelta) -> None:
    """Record a single-use token id until exp + leeway; a replay is a bad attestation."""
    if not consume(key, exp + leeway, now):
        raise bad_attestation("replayed jti")


def required_jti(claims: Mapping[str, Any]) -> str:
    """The jti claim: a non-empty string of at most MAX_JTI_LENGTH characters."""
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise bad_attestation("missing or oversized jti")
    return jti


class AssertionVerifier:
    """Verifies self-signed assertions against keys registered on identities."""

    def __init__(
        self,
        lookup: IdentityLookup,
        clock: Clock,
        *,
        audience: str,
        consume_jti: ReplayCheck,
        leeway: timedelta = DEFAULT_LEEWAY,
    ) -> None:
        self._lookup = lookup
        self._clock = clock
        self._audience = audience
        self._consume_jti = consume_jti
        self._leeway = leeway

    def verify(self, parsed: jws.ParsedJws) -> Identity:
        """The identity that signed ``parsed``; raises Unauthenticated otherwise."""
        if parsed.alg not in SIGNING:
            raise bad_attestation("algorithm not allowed for assertions")
        if parsed.header.get("typ") == ACCESS_TOKEN_TYP:
            raise bad_attestation("an access token (typ at+jwt) is not an assertion")
        claims = parsed.claims
        iss, sub = claims.get("iss"), claims.get("sub")
        if not isinstance(iss, str) or iss != sub:
            raise bad_attestation("assertion iss and sub must both be the identity id")
        identity = lookup_identity(self._lookup, iss)
        now = self._clock.now()
        key = self._key(identity, parsed, now)
        public, alg = jwks.cached_key(key.jwk)
        if parsed.alg != alg:
            raise bad_attestation("alg does not match the registered key")
        if not SIGNING[alg].verify(parsed.signing_input, public, parsed.signature):
            raise bad_attestation("bad signature")
        if self._audience not in audiences_of(claims):
            raise bad_attestation("assertion aud is not the broker issuer")
        exp = check_times(claims, now, self._leeway, error=bad_attestation)
        iat = claims.get("iat")
        start = datetime.fromtimestamp(iat, exp.tzinfo) if isinstance(iat, int | float) else now
        if exp - start > MAX_ASSERTION_LIFETIME or exp - now > MAX_ASSERTION_LIFETIME + self._leeway:
            raise bad_attestation("assertion lives longer than five minutes")
        jti = required_jti(claims)
        consume_once(self._consume_jti, f"assertion:{identity.id}:{jti}", exp, now, self._leeway)
        return identity

    @staticmethod
    def _key(identity: Identity, parsed: jws.ParsedJws, now: datetime) -> IdentityKey:
        """The active key the assertion names by kid; without a kid, the one active key of its alg.

        RFC 7523 does not require a kid and most libraries set none; with one candidate
        there is nothing to choose, with several the kid must say which.
        """
        kid = parsed.kid
        if kid:
            key = identity.key(kid)
            if key is None or not key.is_active(now):
                raise bad_attestation("no active key with that kid on the identity")
            return key
        candidates = [k for k in identity.public_keys if k.is_active(now) and k.alg == parsed.alg]
        if len(candidates) != 1:
            raise bad_attestation(f"kid required: {len(candidates)} active {parsed.alg} keys on the identity")
        return candidates[0]
