"""Verifiers for presented attestations (subject and actor tokens).

A self-signed assertion (RFC 7523 style) is a JWT with iss = sub = the identity id,
aud = the broker's issuer, a short life (exp - iat at most five minutes) and a unique
jti, signed by a key registered on the identity. It is accepted once: its jti is
recorded in the store until its exp.

Every failure here is the same ``Unauthenticated("invalid attestation")`` for the
caller; the reason travels in ``detail`` to the log and the audit event only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from . import jwk as jwks
from . import jws
from .clock import Clock
from .errors import NotFound, Unauthenticated
from .identities import Identity
from .keys import ALGORITHMS
from .tokens import audiences_of, check_times

MAX_ASSERTION_LIFETIME = timedelta(minutes=5)
MAX_JTI_LENGTH = 256

#: consume(key, expires_at, now) -> True the first time a key is seen before it expires.
ReplayCheck = Callable[[str, datetime, datetime], bool]
IdentityLookup = Callable[[str], Identity]


def bad_attestation(detail: str) -> Unauthenticated:
    """The one error a caller sees for a bad attestation."""
    return Unauthenticated("invalid attestation", detail=detail)


class AssertionVerifier:
    """Verifies self-signed assertions against keys registered on identities."""

    def __init__(
        self,
        lookup: IdentityLookup,
        clock: Clock,
        *,
        audience: str,
        consume_jti: ReplayCheck,
        leeway: timedelta = timedelta(seconds=30),
    ) -> None:
        self._lookup = lookup
        self._clock = clock
        self._audience = audience
        self._consume_jti = consume_jti
        self._leeway = leeway

    def verify(self, parsed: jws.ParsedJws) -> Identity:
        """The identity that signed ``parsed``; raises Unauthenticated otherwise."""
        claims = parsed.claims
        iss, sub = claims.get("iss"), claims.get("sub")
        if not isinstance(iss, str) or iss != sub:
            raise bad_attestation("assertion iss and sub must both be the identity id")
        try:
            identity = self._lookup(iss)
        except NotFound:
            raise bad_attestation("unknown identity") from None
        if identity.disabled:
            raise bad_attestation("identity is disabled")
        kid = parsed.kid
        key = identity.key(kid) if kid else None
        now = self._clock.now()
        if key is None or not key.is_active(now):
            raise bad_attestation("no active key with that kid on the identity")
        public, alg = jwks.cached_key(key.jwk)
        if parsed.alg != alg:
            raise bad_attestation("alg does not match the registered key")
        if not ALGORITHMS[parsed.alg].verify(parsed.signing_input, public, parsed.signature):
            raise bad_attestation("bad signature")
        if self._audience not in audiences_of(claims):
            raise bad_attestation("assertion aud is not the broker issuer")
        exp = check_times(claims, now, self._leeway, error=bad_attestation)
        iat = claims.get("iat")
        start = datetime.fromtimestamp(iat, exp.tzinfo) if isinstance(iat, int | float) else now
        if exp - start > MAX_ASSERTION_LIFETIME or exp - now > MAX_ASSERTION_LIFETIME + self._leeway:
            raise bad_attestation("assertion lives longer than five minutes")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise bad_attestation("assertion needs a jti")
        if not self._consume_jti(f"assertion:{identity.id}:{jti}", exp, now):
            raise bad_attestation("replayed jti")
        return identity
