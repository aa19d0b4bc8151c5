"""Tokens from trusted external issuers: the binding rules, the binding index, the verifier.

Verification (``ExternalIssuerVerifier.verify``) is signature first, then policy:
issuer known -> alg in the issuer's allow-list -> kid names a published key (one
refetch on an unknown kid, rate limited by the provider) -> alg fits the key -> the
signature -> aud, exp/nbf/iat with leeway, lifetime -> jti once (single-use issuers)
-> exactly one enabled identity bound to (iss, sub) whose required claims match.

The issuers themselves (model, key sets, registry) are core/issuers.py.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from . import jws
from .algorithms import EXTERNAL
from .attestation import IdentityLookup, ReplayCheck, bad_attestation, consume_once, required_jti
from .clock import Clock
from .errors import NotFound, Unavailable
from .identities import Identity
from .issuers import (
    MAX_SUBJECT,
    SUPPORTED_ALGORITHMS,
    BindingStore,
    IssuerKey,
    IssuerKeys,
    IssuerRegistry,
    JwksProvider,
    TrustedIssuer,
    parse_jwks,
)
from .tokens import DEFAULT_LEEWAY, audiences_of, check_times


# bindings ---------------------------------------------------------------------------------
def claim_values(claims: Mapping[str, Any], path: str) -> Iterator[Any]:
    """Every value a dotted path names: ``kubernetes.io.namespace`` is found as
    ``claims["kubernetes.io"]["namespace"]`` as well as ``claims["kubernetes"]["io"]["namespace"]``
    or a flat ``claims["kubernetes.io.namespace"]``, whichever exist."""
    parts = path.split(".")

    def walk(node: Mapping[str, Any], start: int) -> Iterator[Any]:
        for end in range(start + 1, len(parts) + 1):
            key = ".".join(parts[start:end])
            if key not in node:
                continue
            value = node[key]
            if end == len(parts):
                yield value
            elif isinstance(value, dict):
                yield from walk(value, end)

    return walk(claims, 0)


def _equals(value: Any, expected: str) -> bool:
    if isinstance(value, bool):
        return expected == ("true" if value else "false")
    if isinstance(value, str | int):
        return str(value) == expected
    return False  # objects, lists, floats and null never satisfy a required claim


def unmatched_claim(required: Mapping[str, str], claims: Mapping[str, Any]) -> str | None:
    """The first required claim path the token does not satisfy, or None if all match."""
    for path, expected in sorted(required.items()):
        if not any(_equals(value, expected) for value in claim_values(claims, path)):
            return path
    return None


class BindingIndex:
    """(issuer, subject) -> ids of identities bound to it: one indexed store read per lookup.

    Nothing is scanned or rebuilt per request, however many identities there are. A miss
    (no identity bound) is remembered for ``negative_ttl`` in a bounded LRU, so a flood of
    tokens for unbound subjects costs at most one read per distinct subject and interval;
    ``forget`` (an identity written through this replica) drops the remembered misses, so
    a binding created a moment ago is found at once here and within ``negative_ttl``
    everywhere else. Entries are only candidates: the verifier re-reads each identity.
    """

    def __init__(
        self,
        store: BindingStore,
        clock: Clock,
        *,
        negative_ttl: timedelta = timedelta(seconds=2),
        max_misses: int = 10_000,
    ) -> None:
        self._store = store
        self._clock = clock
        self._negative_ttl = negative_ttl
        self._max_misses = max_misses
        self._lock = threading.Lock()
        self._misses: OrderedDict[tuple[str, str], datetime] = OrderedDict()

    def candidates(self, issuer: str, subject: str) -> tuple[str, ...]:
        """Ids of identities bound to ``subject`` of ``issuer`` (possibly stale; re-check them)."""
        key = (issuer, subject)
        now = self._clock.now()
        with self._lock:
            until = self._misses.get(key)
            if until is not None and now < until:
                return ()
        found = tuple(self._store.bound_identity_ids(issuer, subject))
        if not found:
            with self._lock:
                self._misses[key] = now + self._negative_ttl
                self._misses.move_to_end(key)
                while len(self._misses) > self._max_misses:
                    self._misses.popitem(last=False)
        return found

    def forget(self, _identity_id: str = "") -> None:
        """Drop every remembered miss (a binding may have been added)."""
        with self._lock:
            self._misses.clear()


def bound_identity(
    index: BindingIndex, lookup: IdentityLookup, iss: str, sub: str, claims: Mapping[str, Any]
) -> Identity:
    """The one enabled identity bound to ``sub`` of ``iss`` whose required claims ``claims`` meet."""
    matched: list[Identity] = []
    mismatch = ""
    for identity_id in index.candidates(iss, sub):
        try:
            identity = lookup(identity_id)
        except NotFound:
            continue
        bindings = [b for b in identity.bindings if b.issuer == iss and b.subject == sub]
        missing = [unmatched_claim(b.required_claims, claims) for b in bindings]
        if bindings and None in missing:
            matched.append(identity)
        elif bindings:
            mismatch = f"; {identity.id} requires claim {next(m for m in missing if m)}"
    if not matched:
        raise bad_attestation(f"no identity is bound to sub {sub[:100]!r} of {iss}{mismatch}")
    if len(matched) > 1:
        raise bad_attestation(f"sub {sub[:100]!r} of {iss} is bound to several identities")
    identity = matched[0]
    if identity.disabled:
        raise bad_attestation(f"identity {identity.id} is disabled")
    return identity


# the verifier -------------------------------------------------------------------------------
class ExternalIssuerVerifier:
    """Verifies JWTs of trusted external issuers and finds the identity bound to them."""

    def __init__(
        self,
        issuers: IssuerRegistry,
        bindings: BindingIndex,
        lookup: IdentityLookup,
        clock: Clock,
        *,
        consume_jti: ReplayCheck,
        keys: JwksProvider | None = None,
        leeway: timedelta = DEFAULT_LEEWAY,
    ) -> None:
        self._issuers = issuers
        self._bindings = bindings
        self._lookup = lookup
        self._clock = clock
        self._consume_jti = consume_jti
        self._keys = keys
        self._leeway = leeway

    def algorithms(self) -> frozenset[str]:
        """Every algorithm some trusted issuer may be allowed (each issuer narrows it)."""
        return SUPPORTED_ALGORITHMS

    def handles(self, issuer: str) -> bool:
        """True if ``issuer`` is a trusted external issuer."""
        return self._issuers.lookup(issuer) is not None

    def _key_set(self, issuer: TrustedIssuer, *, refresh: bool) -> IssuerKeys:
        if issuer.jwks_json:
            return parse_jwks(issuer.jwks_json)
        if self._keys is None:
            raise Unavailable("issuer keys cannot be loaded", detail="no JWKS provider configured")
        return self._keys.keys(issuer, refresh=refresh)

    def _verified_key(self, issuer: TrustedIssuer, parsed: jws.ParsedJws) -> IssuerKey:
        if parsed.alg not in issuer.algorithms:
            raise bad_attestation(f"algorithm {parsed.alg} is not allowed for issuer {issuer.issuer}")
        kid = parsed.kid
        if not kid:
            raise bad_attestation("missing kid")
        key = self._key_set(issuer, refresh=False).get(kid)
        if key is None:
            key = self._key_set(issuer, refresh=True).get(kid)
        if key is None:
            raise bad_attestation(f"unknown kid for issuer {issuer.issuer}")
        if parsed.alg not in key.algorithms:
            raise bad_attestation("alg does not match the issuer's key")
        if not EXTERNAL[parsed.alg].verify(parsed.signing_input, key.public, parsed.signature):
            raise bad_attestation("bad signature")
        return key

    def verify(self, parsed: jws.ParsedJws) -> Identity:
        """The identity bound to the token; raises Unauthenticated otherwise."""
        claims = parsed.claims
        issuer = self._issuers.lookup(str(claims.get("iss")))
        if issuer is None:
            raise bad_attestation("untrusted issuer")
        self._verified_key(issuer, parsed)
        if issuer.audience not in audiences_of(claims):
            raise bad_attestation(f"aud does not hold {issuer.audience}")
        now = self._clock.now()
        exp = check_times(claims, now, self._leeway, error=bad_attestation)
        if issuer.max_token_age is not None:
            start = claims.get("iat", claims.get("nbf"))
            if not isinstance(start, int | float) or isinstance(start, bool):
                raise bad_attestation("missing iat (the issuer has a max_token_age)")
            if exp.timestamp() - start > issuer.max_token_age.total_seconds():
                raise bad_attestation("token lives longer than the issuer's max_token_age")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUBJECT:
            raise bad_attestation("missing or oversized sub")
        if issuer.single_use:
            consume_once(self._consume_jti, f"issuer:{issuer.issuer}:{required_jti(claims)}", exp, now, self._leeway)
        return bound_identity(self._bindings, self._lookup, issuer.issuer, sub, claims)
