"""Token exchange: attest -> authorize -> mint (RFC 8693), plus introspection and revocation.

Three shapes of request:

- attestation (subject_token_type jwt, no actor): a self-signed assertion or a JWT from
  a trusted external issuer proves an identity; the token gets that identity's scopes
  and audiences, narrowed by the request;
- down-scoping (subject_token_type access_token, no actor): a broker token in, a token
  no wider out (scopes, audiences, lifetime), same sub, client_id and act;
- delegation (subject access_token + actor attestation): an AI agent acts for the
  subject; sub stays the subject, ``act`` names the agent above the previous chain,
  scopes ⊆ subject's ∩ agent's delegable_scopes, audiences ⊆ subject's ∩ the agent's,
  exp ≤ the subject token's. Every delegation, granted or refused, is audited.

A broker token presented to the broker (bearer, subject token, actor chain,
introspection) counts only while it verifies (signature, claims, not revoked) and every
identity it names (its subject, each actor of its chain) still exists, is enabled, was
not narrowed since the token was issued (``Identity.valid_from``: re-created, disabled,
a scope or audience removed, ...), and still allows every scope and audience the token
carries. So a token never carries more than its identities allow now.

Scopes ending in ``:*`` cover every narrower instance (``broker.secrets.read:*`` covers
``broker.secrets.read:db``): asking for one is down-scoping, granted, and the token then
carries the narrow scope.

Asking for anything the caller may not have is refused (PERMISSION_DENIED naming it),
never silently dropped. With a trust domain, sub is the identity's SPIFFE ID
``spiffe://<trust domain>/identity/<identity id>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from . import jws
from .algorithms import SIGNING
from .attestation import AssertionVerifier, IdentityLookup, bad_attestation
from .audit import Auditor
from .clock import Clock
from .errors import BrokerError, InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from .identities import ADMIN_SCOPE, Identity, IdentityKind, covers
from .tokens import (
    ACCESS_TOKEN_TYP,
    JWT_TYP,
    REVOCATION_MARGIN,
    TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_JWT,
    AccessClaims,
    MintedToken,
    TokenCore,
    invalid,
)

MACHINE_KINDS = frozenset(k.value for k in IdentityKind)
#: SPIFFE trust domain names: lowercase letters, digits, '.', '-' and '_'.
TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]{1,255}$")

#: revoke(jti, until): mark a token id dead until its expiry.
RevokeJti = Callable[[str, datetime], None]


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


def _named(value: str) -> str:
    """A requested name as an error message may show it: never something token-shaped or long."""
    if len(value) <= 120 and "eyJ" not in value:
        return repr(value)
    return f"of {len(value)} characters"


def _narrow(requested: Sequence[str], available: Sequence[str], what: str, holder: str) -> tuple[str, ...]:
    """``requested`` if all of it is available (empty: all available), else refuse naming it."""
    if not requested:
        return tuple(available)
    missing = [r for r in requested if r not in available]
    if missing:
        raise PermissionDenied(f"{what} {_named(missing[0])} is not allowed for {holder}")
    return tuple(dict.fromkeys(requested))


def _narrow_scopes(requested: Sequence[str], *holders: Sequence[str], holder: str) -> tuple[str, ...]:
    """Scopes every holder covers: ``requested`` (each one, wildcards narrowed) or, when empty,
    the first holder's scopes that the others cover. Refuses naming the first one missing."""
    first, others = holders[0], holders[1:]
    if not requested:
        return tuple(s for s in first if all(covers(h, s) for h in others))
    for scope in requested:
        if not all(covers(h, scope) for h in holders):
            raise PermissionDenied(f"scope {_named(scope)} is not allowed for {holder}")
    return tuple(dict.fromkeys(requested))


class TokenExchange:
    """Turns attestations into broker tokens; introspects and revokes broker tokens."""

    def __init__(
        self,
        tokens: TokenCore,
        assertions: AssertionVerifier,
        lookup: IdentityLookup,
        auditor: Auditor,
        clock: Clock,
        *,
        revoke_jti: RevokeJti,
        max_ttl: timedelta,
        default_ttl: timedelta,
        trust_domain: str = "",
        max_delegation_depth: int = 3,
        external: ExternalVerifier | None = None,
    ) -> None:
        if trust_domain and not TRUST_DOMAIN.match(trust_domain):
            raise ValueError(
                f"trust domain {trust_domain!r} is not a SPIFFE trust domain (lowercase letters, digits, '.', '-', '_')"
            )
        self._tokens = tokens
        self._assertions = assertions
        self._lookup = lookup
        self._auditor = auditor
        self._clock = clock
        self._revoke_jti = revoke_jti
        self._max_ttl = max_ttl
        self._default_ttl = default_ttl
        self._spiffe_prefix = f"spiffe://{trust_domain}/identity/" if trust_domain else ""
        self._max_depth = max_delegation_depth
        self._external = external
        self._attestation_algs = frozenset(SIGNING) | (external.algorithms() if external else frozenset())

    # identity <-> subject -----------------------------------------------------------
    def subject_of(self, identity: Identity) -> str:
        """The sub claim for an identity: its id, or its SPIFFE ID with a trust domain."""
        return f"{self._spiffe_prefix}{identity.id}"

    def _identity_id_of(self, subject: str) -> str | None:
        """The identity id a machine token's sub names, or None if it names none."""
        if not self._spiffe_prefix:
            return subject
        return subject.removeprefix(self._spiffe_prefix) if subject.startswith(self._spiffe_prefix) else None

    # verification ------------------------------------------------------------------------
    def attest(self, token: str) -> Identity:
        """Verify a self-signed assertion or an external issuer's JWT."""
        try:
            parsed = jws.parse(token, algorithms=self._attestation_algs)
        except Unauthenticated as exc:
            raise bad_attestation(exc.detail or "malformed") from None
        iss = parsed.claims.get("iss")
        if not isinstance(iss, str) or not iss:
            raise bad_attestation("missing iss")
        if iss == self._tokens.issuer:
            raise bad_attestation("a broker token is not an attestation")
        if self._external is not None and self._external.handles(iss):
            return self._external.verify(parsed)
        if "://" in iss:
            raise bad_attestation("untrusted issuer")
        return self._assertions.verify(parsed)

    def verify_broker_token(self, token: str) -> AccessClaims:
        """A broker token that verifies and that its every named identity still allows (module docstring)."""
        claims = self._tokens.verify(token, audience=None)
        if claims.kind not in MACHINE_KINDS:
            raise invalid(f"kind {claims.kind[:40]!r} names no identity this broker holds")
        subject_id = self._identity_id_of(claims.subject)
        if subject_id is None:
            raise invalid("sub is not an identity of this trust domain")
        subject = self._holder(subject_id, claims)
        self._still_allowed(claims, subject, subject.allowed_scopes)
        for act in claims.actors:
            client_id = act.get("client_id")
            if not isinstance(client_id, str):
                raise invalid("malformed act claim")
            agent = self._holder(client_id, claims)
            self._still_allowed(claims, agent, agent.delegable_scopes)
        return claims

    def _holder(self, identity_id: str, claims: AccessClaims) -> Identity:
        """The identity a token names, if it exists, is enabled and was not narrowed since the token was issued."""
        try:
            identity = self._lookup(identity_id)
        except (NotFound, InvalidArgument):
            raise invalid(f"identity {identity_id[:80]} no longer exists") from None
        if identity.disabled:
            raise invalid(f"identity {identity.id} is disabled")
        valid_from = identity.valid_from()
        if valid_from is not None and claims.issued_at < valid_from:
            raise invalid(f"issued before identity {identity.id} was created, disabled or narrowed")
        return identity

    def _still_allowed(self, claims: AccessClaims, identity: Identity, scopes: Sequence[str]) -> None:
        """Every scope and audience of the token is still allowed to ``identity``."""
        for scope in claims.scopes:
            if not covers(scopes, scope):
                raise invalid(f"scope {scope[:80]} is no longer allowed for {identity.id}")
        for audience in claims.audiences:
            if audience != self._tokens.issuer and audience not in identity.allowed_audiences:
                raise invalid(f"audience {audience[:80]} is no longer allowed for {identity.id}")

    def introspect(self, token: str) -> Mapping[str, Any] | None:
        """RFC 7662: the claims of an active broker token, None for any other token."""
        try:
            return self.verify_broker_token(token).claims
        except Unauthenticated:
            return None

    def revoke(self, token: str, *, by: AccessClaims) -> None:
        """Make the token's jti dead until its exp; only its holder or an admin may.

        Per RFC 7009 a token that does not verify (expired, foreign, malformed) needs no
        revocation and is not an error; revoking twice is not an error either.
        """
        try:
            target = self._tokens.verify(token, audience=None, check_revoked=False)
        except Unauthenticated:
            return
        if not self._may_revoke(by, target):
            raise PermissionDenied("only the token's holder or an admin may revoke it")
        self._revoke_jti(target.jti, target.expires_at + REVOCATION_MARGIN)
        self._auditor.record("token.revoke", actor=by.client_id or by.subject, target=target.jti, sub=target.subject)

    @staticmethod
    def _may_revoke(by: AccessClaims, target: AccessClaims) -> bool:
        if ADMIN_SCOPE in by.scopes or by.jti == target.jti:
            return True
        if by.act is not None:
            return False  # a delegated token speaks for its subject only within its scopes
        if by.subject == target.subject:
            return True  # the principal, for any token issued for it (delegations included)
        # a workload, for tokens issued to it: its own, or delegated ones naming it as the actor
        held_by_identity = target.kind in MACHINE_KINDS or (target.act or {}).get("client_id") == target.client_id
        return by.kind in MACHINE_KINDS and held_by_identity and by.client_id == target.client_id

    # the exchange ----------------------------------------------------------------------
    def exchange(self, req: ExchangeRequest, *, request_id: str = "") -> ExchangeResult:
        """Attest, authorize and mint; see the module docstring for the three shapes."""
        if not req.subject_token:
            raise InvalidArgument("subject_token: required")
        typ = self._token_typ(req.requested_token_type)
        if req.requested_ttl is not None and req.requested_ttl <= timedelta(0):
            raise InvalidArgument("requested_ttl: must be positive")
        if req.actor_token or req.actor_token_type:
            if not req.actor_token:
                raise InvalidArgument("actor_token: required when actor_token_type is set")
            if req.subject_token_type != TOKEN_TYPE_ACCESS or req.actor_token_type != TOKEN_TYPE_JWT:
                raise InvalidArgument(
                    f"delegation needs subject_token_type {TOKEN_TYPE_ACCESS} and actor_token_type {TOKEN_TYPE_JWT}"
                )
            return self._delegate(req, typ, request_id)
        if req.subject_token_type == TOKEN_TYPE_JWT:
            return self._from_attestation(req, typ)
        if req.subject_token_type == TOKEN_TYPE_ACCESS:
            return self._downscope(req, typ)
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

    def _live_subject(self, token: str) -> AccessClaims:
        """A subject token that verifies and has at least a second left to give."""
        subject = self.verify_broker_token(token)
        if subject.expires_at <= self._clock.now():
            raise invalid("subject token expired")
        return subject

    def _from_attestation(self, req: ExchangeRequest, typ: str) -> ExchangeResult:
        identity = self.attest(req.subject_token)
        scopes = _narrow_scopes(req.scopes, identity.allowed_scopes, holder=identity.id)
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

    def _downscope(self, req: ExchangeRequest, typ: str) -> ExchangeResult:
        subject = self._live_subject(req.subject_token)
        holder = f"the presented token of {subject.subject}"
        scopes = _narrow_scopes(req.scopes, subject.scopes, holder=holder)
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
        subject: AccessClaims | None = None
        agent: Identity | None = None
        try:
            subject = self._live_subject(req.subject_token)
            agent = self.attest(req.actor_token)
            result = self._delegate_as(agent, subject, req, typ)
        except BrokerError as exc:
            reason = exc.detail or exc.message
            if subject is None or agent is None:  # the caller proved nothing: sampled, never a row each
                self._auditor.record_unauthenticated(
                    "token.delegate", error=exc.code, reason=reason, request_id=request_id
                )
            else:
                self._auditor.record(
                    "token.delegate",
                    actor=agent.id,
                    target=subject.subject,
                    outcome="failure",
                    request_id=request_id,
                    error=exc.code,
                    reason=reason,
                )
            raise
        self._auditor.record(
            "token.delegate",
            actor=agent.id,
            target=subject.subject,
            outcome="success",
            request_id=request_id,
            scopes=list(result.scopes),
            audiences=list(result.audiences),
            depth=len(subject.actors) + 1,
            subject_jti=subject.jti,
            jti=result.minted.jti,
        )
        return result

    def _delegate_as(self, agent: Identity, subject: AccessClaims, req: ExchangeRequest, typ: str) -> ExchangeResult:
        if not agent.delegable_scopes:
            raise PermissionDenied(f"identity {agent.id!r} may not act on behalf of others (no delegable_scopes)")
        depth = len(subject.actors) + 1
        if depth > self._max_depth:
            raise PermissionDenied(f"delegation chain would be {depth} deep; the limit is {self._max_depth}")
        holder = f"{agent.id} acting for {subject.subject}"
        scopes = _narrow_scopes(req.scopes, subject.scopes, agent.delegable_scopes, holder=holder)
        if not scopes:
            raise PermissionDenied(f"no scope of the subject token is delegable to {agent.id!r}")
        agent_audiences = (self._tokens.issuer, *agent.allowed_audiences)
        shared = [a for a in subject.audiences if a in agent_audiences]
        if not shared:
            raise PermissionDenied(f"no audience of the subject token is allowed for {agent.id!r}")
        audiences = _narrow(req.audiences, shared, "audience", holder)
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
