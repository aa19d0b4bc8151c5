"""Token exchange: attest -> authorize -> mint (RFC 8693).

Three shapes of request:

- attestation (subject_token_type jwt, no actor): a self-signed assertion or a JWT from
  a trusted external issuer proves an identity; the token gets that identity's scopes
  and audiences, narrowed by the request;
- down-scoping (subject_token_type access_token, no actor): a broker token in, a token
  no wider out (scopes, audiences, lifetime);
- delegation (subject access_token + actor attestation): an AI agent acts for the
  subject; sub stays the subject, ``act`` names the agent above the previous chain.

Asking for anything the caller may not have is refused (PERMISSION_DENIED naming it),
never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from . import jws
from .attestation import AssertionVerifier, IdentityLookup, bad_attestation
from .audit import Auditor
from .clock import Clock
from .errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from .identities import Identity, IdentityKind
from .keys import ALGORITHMS
from .tokens import (
    ACCESS_TOKEN_TYP,
    JWT_TYP,
    TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_JWT,
    AccessClaims,
    MintedToken,
    TokenCore,
)

MACHINE_KINDS = frozenset(k.value for k in IdentityKind)


class ExternalVerifier(Protocol):
    """Verifies JWTs of trusted external issuers (Kubernetes, CI OIDC, agent runtimes)."""

    def algorithms(self) -> frozenset[str]:
        """Every algorithm some trusted issuer allows."""
        ...

    def handles(self, issuer: str) -> bool:
        """True if ``issuer`` is a trusted external issuer."""
        ...

    def verify(self, parsed: jws.ParsedJws) -> Identity:
        """The identity bound to the token; raises Unauthenticated otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class ExchangeRequest:
    """A token-exchange request, already decoded from the wire."""

    subject_token: str
    subject_token_type: str
    actor_token: str = ""
    actor_token_type: str = ""
    scopes: Sequence[str] = ()
    audiences: Sequence[str] = ()
    requested_ttl: timedelta | None = None
    requested_token_type: str = ""


@dataclass(frozen=True, slots=True)
class ExchangeResult:
    """The minted token and what was granted."""

    minted: MintedToken
    issued_token_type: str
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]


def _narrow(requested: Sequence[str], available: Sequence[str], what: str, holder: str) -> tuple[str, ...]:
    """``requested`` if all of it is available (empty: all available), else refuse."""
    if not requested:
        return tuple(available)
    missing = [r for r in requested if r not in available]
    if missing:
        raise PermissionDenied(f"{what} {missing[0]!r} is not allowed for {holder}")
    return tuple(dict.fromkeys(requested))


def _chain_depth(act: Mapping[str, Any] | None) -> int:
    depth = 0
    while isinstance(act, Mapping):
        depth += 1
        act = act.get("act")
    return depth


class TokenExchange:
    """Turns attestations into broker tokens."""

    def __init__(
        self,
        tokens: TokenCore,
        assertions: AssertionVerifier,
        lookup: IdentityLookup,
        auditor: Auditor,
        clock: Clock,
        *,
        max_ttl: timedelta,
        default_ttl: timedelta,
        trust_domain: str = "",
        max_delegation_depth: int = 3,
        external: ExternalVerifier | None = None,
    ) -> None:
        self._tokens = tokens
        self._assertions = assertions
        self._lookup = lookup
        self._auditor = auditor
        self._clock = clock
        self._max_ttl = max_ttl
        self._default_ttl = default_ttl
        self._trust_domain = trust_domain
        self._max_depth = max_delegation_depth
        self._external = external
        self._attestation_algs = frozenset(ALGORITHMS)

    # identity <-> subject -----------------------------------------------------------
    def subject_of(self, identity: Identity) -> str:
        """The sub claim for an identity: its id, or its SPIFFE ID with a trust domain."""
        if self._trust_domain:
            return f"spiffe://{self._trust_domain}/identity/{identity.id}"
        return identity.id

    def _identity_of_token(self, claims: AccessClaims) -> Identity | None:
        """The identity a machine token's subject names (None for people)."""
        if claims.kind not in MACHINE_KINDS:
            return None
        sub = claims.subject
        prefix = f"spiffe://{self._trust_domain}/identity/" if self._trust_domain else ""
        identity_id = sub.removeprefix(prefix) if prefix else sub
        try:
            return self._lookup(identity_id)
        except NotFound:
            return None

    # attestation ----------------------------------------------------------------------
    def attest(self, token: str) -> Identity:
        """Verify a self-signed assertion or an external issuer's JWT."""
        algorithms = self._attestation_algs
        if self._external is not None:
            algorithms = algorithms | self._external.algorithms()
        try:
            parsed = jws.parse(token, algorithms=algorithms)
        except Unauthenticated as exc:
            raise bad_attestation(exc.detail or "malformed") from None
        iss = parsed.claims.get("iss")
        if iss == self._tokens.issuer:
            raise bad_attestation("a broker token is not an attestation")
        if self._external is not None and isinstance(iss, str) and self._external.handles(iss):
            return self._external.verify(parsed)
        if parsed.alg not in ALGORITHMS:
            raise bad_attestation("algorithm not allowed for assertions")
        return self._assertions.verify(parsed)

    def _verify_subject_token(self, token: str) -> AccessClaims:
        claims = self._tokens.verify(token, audience=None)
        identity = self._identity_of_token(claims)
        if claims.kind in MACHINE_KINDS and (identity is None or identity.disabled):
            raise Unauthenticated("invalid token", detail="subject identity is disabled or deleted")
        return claims

    # the exchange ----------------------------------------------------------------------
    def exchange(self, req: ExchangeRequest, *, request_id: str = "") -> ExchangeResult:
        """Attest, authorize and mint; see the module docstring for the three shapes."""
        typ = self._token_typ(req.requested_token_type)
        if req.requested_ttl is not None and req.requested_ttl <= timedelta(0):
            raise InvalidArgument("requested_ttl: must be positive")
        if req.actor_token:
            if req.subject_token_type != TOKEN_TYPE_ACCESS or req.actor_token_type != TOKEN_TYPE_JWT:
                raise InvalidArgument(
                    f"delegation needs subject_token_type {TOKEN_TYPE_ACCESS} and actor_token_type {TOKEN_TYPE_JWT}"
                )
            return self._delegate(req, typ, request_id)
        if req.subject_token_type == TOKEN_TYPE_JWT:
            return self._from_attestation(req, typ, request_id)
        if req.subject_token_type == TOKEN_TYPE_ACCESS:
            return self._downscope(req, typ, request_id)
        raise InvalidArgument(f"subject_token_type: must be {TOKEN_TYPE_JWT} or {TOKEN_TYPE_ACCESS}")

    def _token_typ(self, requested_token_type: str) -> str:
        if requested_token_type in ("", TOKEN_TYPE_ACCESS):
            return ACCESS_TOKEN_TYP
        if requested_token_type == TOKEN_TYPE_JWT:
            return JWT_TYP
        raise InvalidArgument(f"requested_token_type: must be {TOKEN_TYPE_ACCESS} or {TOKEN_TYPE_JWT}")

    def _ttl(self, requested: timedelta | None, identity_max: timedelta | None) -> timedelta:
        ceiling = min(identity_max or self._max_ttl, self._max_ttl)
        return min(requested or min(self._default_ttl, ceiling), ceiling)

    def _issued_type(self, typ: str) -> str:
        return TOKEN_TYPE_JWT if typ == JWT_TYP else TOKEN_TYPE_ACCESS

    def _from_attestation(self, req: ExchangeRequest, typ: str, request_id: str) -> ExchangeResult:
        identity = self.attest(req.subject_token)
        scopes = _narrow(req.scopes, identity.allowed_scopes, "scope", identity.id)
        audiences = _narrow(
            req.audiences or (self._tokens.issuer,),
            (self._tokens.issuer, *identity.allowed_audiences),
            "audience",
            identity.id,
        )
        minted = self._tokens.mint(
            subject=self.subject_of(identity),
            client_id=identity.id,
            kind=identity.kind.value,
            tenant=identity.tenant,
            scopes=scopes,
            audiences=audiences,
            ttl=self._ttl(req.requested_ttl, identity.max_token_ttl),
            typ=typ,
        )
        return ExchangeResult(minted, self._issued_type(typ), scopes, audiences)

    def _downscope(self, req: ExchangeRequest, typ: str, request_id: str) -> ExchangeResult:
        subject = self._verify_subject_token(req.subject_token)
        holder = f"the presented token of {subject.subject}"
        scopes = _narrow(req.scopes, subject.scopes, "scope", holder)
        audiences = _narrow(req.audiences, subject.audiences, "audience", holder)
        minted = self._tokens.mint(
            subject=subject.subject,
            client_id=subject.client_id,
            kind=subject.kind,
            tenant=subject.tenant,
            scopes=scopes,
            audiences=audiences,
            ttl=self._ttl(req.requested_ttl, None),
            act=subject.act,
            typ=typ,
            not_after=subject.expires_at,
        )
        return ExchangeResult(minted, self._issued_type(typ), scopes, audiences)

    def _delegate(self, req: ExchangeRequest, typ: str, request_id: str) -> ExchangeResult:
        subject = self._verify_subject_token(req.subject_token)
        try:
            agent = self.attest(req.actor_token)
        except Unauthenticated as exc:
            self._audit_delegation(subject, "", "failure", request_id, reason=exc.detail or "")
            raise
        try:
            result = self._delegate_as(agent, subject, req, typ)
        except (PermissionDenied, InvalidArgument) as exc:
            self._audit_delegation(subject, agent.id, "failure", request_id, reason=exc.message)
            raise
        self._audit_delegation(
            subject, agent.id, "success", request_id, scopes=list(result.scopes), jti=result.minted.jti
        )
        return result

    def _delegate_as(self, agent: Identity, subject: AccessClaims, req: ExchangeRequest, typ: str) -> ExchangeResult:
        if not agent.delegable_scopes:
            raise PermissionDenied(f"identity {agent.id!r} may not act on behalf of others (no delegable_scopes)")
        depth = _chain_depth(subject.act) + 1
        if depth > self._max_depth:
            raise PermissionDenied(f"delegation chain would be {depth} deep; the limit is {self._max_depth}")
        available = [s for s in subject.scopes if s in agent.delegable_scopes]
        scopes = _narrow(req.scopes, available, "scope", f"{agent.id} acting for {subject.subject}")
        agent_audiences = (self._tokens.issuer, *agent.allowed_audiences)
        audiences = _narrow(
            req.audiences,
            [a for a in subject.audiences if a in agent_audiences],
            "audience",
            f"{agent.id} acting for {subject.subject}",
        )
        if not audiences:
            raise PermissionDenied(f"no audience of the subject token is allowed for {agent.id!r}")
        act: dict[str, Any] = {"sub": self.subject_of(agent), "client_id": agent.id}
        if subject.act is not None:
            act["act"] = dict(subject.act)
        minted = self._tokens.mint(
            subject=subject.subject,
            client_id=agent.id,
            kind=subject.kind,
            tenant=subject.tenant,
            scopes=scopes,
            audiences=audiences,
            ttl=self._ttl(req.requested_ttl, agent.max_token_ttl),
            act=act,
            typ=typ,
            not_after=subject.expires_at,
        )
        return ExchangeResult(minted, self._issued_type(typ), scopes, audiences)

    def _audit_delegation(
        self, subject: AccessClaims, agent_id: str, outcome: str, request_id: str, **details: Any
    ) -> None:
        self._auditor.record(
            "token.delegate",
            actor=agent_id or "unknown",
            target=subject.subject,
            outcome=outcome,
            request_id=request_id,
            **details,
        )
