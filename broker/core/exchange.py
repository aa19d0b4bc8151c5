"""Token exchange: attest -> authorize -> mint (RFC 8693), plus introspection and revocation.

Three shapes of request:

- attestation (subject_token_type jwt, no actor): a self-signed assertion or a JWT from
  a trusted external issuer proves an identity; the token gets that identity's scopes
  and audiences, narrowed by the request. With subject_token_type
  ``TOKEN_TYPE_CLIENT_CERTIFICATE`` and no subject token, the mTLS connection's client
  certificate is the proof (core/certificates.py) and the token is bound to it
  (``cnf.x5t#S256``);
- down-scoping (subject_token_type access_token, no actor): a broker token in, a token
  no wider out (scopes, audiences, lifetime), same sub, client_id, act and cnf;
- delegation (subject access_token + actor attestation): an AI agent acts for the
  subject; sub stays the subject, ``act`` names the agent above the previous chain,
  scopes ⊆ subject's ∩ agent's delegable_scopes, audiences ⊆ subject's ∩ the agent's,
  exp ≤ the subject token's.

A person's token (kind human) is a subject token like a machine's: what is exchanged or
delegated from it keeps its ``sid`` and ``amr``, so it dies with the person's login.

Every exchange is audited (``token.exchange``, ``token.delegate``), granted or refused
with its private reason; a refusal of a caller who proved nothing is sampled (audit.py).
The event is written before the token is handed out: when it cannot be, the call fails.

A broker token presented to the broker (subject token, actor chain, introspection)
counts only while ``LiveTokens`` (core/liveness.py) says so: it verifies and every
identity it names still allows what it carries; one bound to a client certificate
(``cnf.x5t#S256``) counts only on a connection presenting that certificate.

Scopes ending in ``:*`` cover every narrower instance (``broker.secrets.read:*`` covers
``broker.secrets.read:db``): asking for one is down-scoping, granted, and the token then
carries the narrow scope.

Asking for anything the caller may not have is refused (PERMISSION_DENIED naming it),
never silently dropped. With a trust domain, sub is the identity's SPIFFE ID
``spiffe://<trust domain>/identity/<identity id>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from . import jws
from .algorithms import SIGNING
from .attestation import AssertionVerifier, bad_attestation
from .audit import Auditor
from .certificates import (
    TOKEN_TYPE_CLIENT_CERTIFICATE,
    X5T_S256,
    CertificateVerifier,
    ClientCertificate,
    check_holder,
)
from .clock import Clock
from .errors import BrokerError, InvalidArgument, PermissionDenied, Unauthenticated
from .identities import MACHINE_KINDS, Identity, covers
from .liveness import LiveTokens
from .principals import Principal
from .ratelimit import Limiter, RateLimited
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
    #: The verified client certificate of the connection the request came on (mTLS), if any.
    client_certificate: ClientCertificate | None = None


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


def narrow(requested: Sequence[str], available: Sequence[str], what: str, holder: str) -> tuple[str, ...]:
    """``requested`` if all of it is available (empty: all available), else refuse naming it."""
    if not requested:
        return tuple(available)
    missing = [r for r in requested if r not in available]
    if missing:
        raise PermissionDenied(f"{what} {_named(missing[0])} is not allowed for {holder}")
    return tuple(dict.fromkeys(requested))


def narrow_scopes(requested: Sequence[str], *holders: Sequence[str], holder: str) -> tuple[str, ...]:
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
        live: LiveTokens,
        auditor: Auditor,
        clock: Clock,
        *,
        revoke_jti: RevokeJti,
        max_ttl: timedelta,
        default_ttl: timedelta,
        max_delegation_depth: int = 3,
        external: ExternalVerifier | None = None,
        certificates: CertificateVerifier | None = None,
        per_identity: Limiter | None = None,
    ) -> None:
        self._tokens = tokens
        self._assertions = assertions
        self._live = live
        self._auditor = auditor
        self._clock = clock
        self._revoke_jti = revoke_jti
        self._max_ttl = max_ttl
        self._default_ttl = default_ttl
        self._max_depth = max_delegation_depth
        self._external = external
        self._certificates = certificates
        self._per_identity = per_identity
        self._attestation_algs = frozenset(SIGNING) | (external.algorithms() if external else frozenset())

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

    def introspect(self, token: str) -> Mapping[str, Any] | None:
        """RFC 7662: the claims of an active broker token, None for any other token."""
        try:
            return self._live.verify(token).claims
        except Unauthenticated:
            return None

    def revoke(self, token: str, *, by: Principal) -> None:
        """Make the token's jti dead until its exp; only its holder or an admin may.

        Per RFC 7009 a token that does not verify (expired, foreign, malformed) needs no
        revocation and is not an error; revoking twice is not an error either.
        """
        try:
            target = self._tokens.verify(token, audience=None, check_revoked=False)
        except Unauthenticated:
            return
        if not _may_revoke(by, target):
            raise PermissionDenied("only the token's holder or an admin may revoke it")
        self._revoke_jti(target.jti, target.expires_at + REVOCATION_MARGIN)
        self._auditor.record("token.revoke", by=by, target=target.jti, sub=target.subject)

    # the exchange ----------------------------------------------------------------------
    def exchange(self, req: ExchangeRequest, *, by: Principal) -> ExchangeResult:
        """Attest, authorize and mint; see the module docstring for the three shapes."""
        if req.subject_token_type == TOKEN_TYPE_CLIENT_CERTIFICATE:
            if req.subject_token or req.actor_token:
                raise InvalidArgument(
                    "subject_token, actor_token: must be empty when the client certificate is the proof"
                )
        elif not req.subject_token:
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
            return self._delegate(req, typ, by)
        if req.subject_token_type not in (TOKEN_TYPE_JWT, TOKEN_TYPE_ACCESS, TOKEN_TYPE_CLIENT_CERTIFICATE):
            raise InvalidArgument(
                f"subject_token_type: must be {TOKEN_TYPE_JWT}, {TOKEN_TYPE_ACCESS} or {TOKEN_TYPE_CLIENT_CERTIFICATE}"
            )
        try:
            proof = self._prove(req)
        except BrokerError as exc:  # the caller proved nothing: sampled, never a row each
            reason = exc.detail or exc.message
            self._auditor.record_unauthenticated("token.exchange", by=by, error=exc.code, reason=reason)
            raise
        holder = proof.id if isinstance(proof, Identity) else proof.client_id
        subject = self._live.subject_of(proof) if isinstance(proof, Identity) else proof.subject
        self._take_call(holder, by)
        try:
            result = self._mint_for(proof, req, typ)
        except BrokerError as exc:
            self._auditor.record(
                "token.exchange", by=by, actor=holder, subject=subject, target=subject, outcome="failure",
                via=req.subject_token_type, error=exc.code, reason=exc.detail or exc.message,
            )  # fmt: skip
            raise
        self._auditor.record(
            "token.exchange", by=by, actor=holder, subject=subject, target=subject, via=req.subject_token_type,
            kind=result.minted.claims["kind"], scopes=list(result.scopes), audiences=list(result.audiences),
            jti=result.minted.jti,
        )  # fmt: skip
        return result

    def refuse_unproven(self, error: BrokerError, *, by: Principal) -> None:
        """Audit (sampled) a refusal decided after the exchange ran: its jti turned out replayed."""
        self._auditor.record_unauthenticated("token.exchange", by=by, error=error.code, reason=error.detail or "")

    def _take_call(self, identity_id: str, by: Principal) -> None:
        """Spend one exchange of the proven identity's rate limit (a refusal is sampled in the trail)."""
        if self._per_identity is None:
            return
        try:
            self._per_identity.take(identity_id, what=f"identity {identity_id!r}")
        except RateLimited as exc:
            self._auditor.record_unauthenticated("token.exchange", by=by, error=exc.code, reason=exc.message)
            raise

    def _prove(self, req: ExchangeRequest) -> Identity | AccessClaims:
        """Who the request proves to be: an identity (attestation, certificate) or a live token."""
        if req.subject_token_type == TOKEN_TYPE_JWT:
            return self.attest(req.subject_token)
        if req.subject_token_type == TOKEN_TYPE_CLIENT_CERTIFICATE:
            certificate = req.client_certificate
            if certificate is None or self._certificates is None:
                raise bad_attestation("no client certificate on the connection (the broker needs a client CA)")
            return self._certificates.verify(certificate)
        return self._live_subject(req)

    def _mint_for(self, proof: Identity | AccessClaims, req: ExchangeRequest, typ: str) -> ExchangeResult:
        if isinstance(proof, AccessClaims):
            return self._downscope(proof, req, typ)
        if req.subject_token_type == TOKEN_TYPE_CLIENT_CERTIFICATE and req.client_certificate is not None:
            return self._for_identity(proof, req, typ, cnf={X5T_S256: req.client_certificate.thumbprint})
        return self._for_identity(proof, req, typ)

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

    def _live_subject(self, req: ExchangeRequest) -> AccessClaims:
        """A subject token that verifies, is presented by its holder and has a second left to give."""
        subject = self._live.verify(req.subject_token)
        check_holder(subject.claims, req.client_certificate)
        if subject.expires_at <= self._clock.now():
            raise invalid("subject token expired")
        return subject

    def _for_identity(
        self, identity: Identity, req: ExchangeRequest, typ: str, cnf: Mapping[str, str] | None = None
    ) -> ExchangeResult:
        scopes = narrow_scopes(req.scopes, identity.allowed_scopes, holder=identity.id)
        audiences = narrow(
            req.audiences or (self._tokens.issuer,),
            (self._tokens.issuer, *identity.allowed_audiences),
            "audience",
            identity.id,
        )
        minted = self._tokens.mint(
            subject=self._live.subject_of(identity),
            client_id=identity.id,
            kind=identity.kind.value,
            tenant=identity.tenant,
            scopes=scopes,
            audiences=audiences,
            ttl=self._ttl(req.requested_ttl, identity.max_token_ttl),
            cnf=cnf,
            typ=typ,
        )
        return ExchangeResult(minted, self._issued_type(typ), scopes, audiences)

    def _downscope(self, subject: AccessClaims, req: ExchangeRequest, typ: str) -> ExchangeResult:
        holder = f"the presented token of {subject.subject}"
        scopes = narrow_scopes(req.scopes, subject.scopes, holder=holder)
        audiences = narrow(req.audiences, subject.audiences, "audience", holder)
        minted = self._tokens.mint(
            subject=subject.subject,
            client_id=subject.client_id,
            kind=subject.kind,
            tenant=subject.tenant,
            scopes=scopes,
            audiences=audiences,
            ttl=self._ttl(req.requested_ttl, None),
            act=subject.act,
            cnf=subject.cnf,
            typ=typ,
            not_after=subject.expires_at,
            amr=subject.amr,
            sid=subject.sid,
        )
        return ExchangeResult(minted, self._issued_type(typ), scopes, audiences)

    def _delegate(self, req: ExchangeRequest, typ: str, by: Principal) -> ExchangeResult:
        subject: AccessClaims | None = None
        agent: Identity | None = None
        try:
            subject = self._live_subject(req)
            agent = self.attest(req.actor_token)
            result = self._delegate_as(agent, subject, req, typ)
        except BrokerError as exc:
            reason = exc.detail or exc.message
            if subject is None or agent is None:  # the caller proved nothing: sampled, never a row each
                self._auditor.record_unauthenticated("token.delegate", by=by, error=exc.code, reason=reason)
            else:
                self._auditor.record(
                    "token.delegate",
                    by=by,
                    actor=agent.id,
                    subject=subject.subject,
                    target=subject.subject,
                    outcome="failure",
                    error=exc.code,
                    reason=reason,
                )
            raise
        self._auditor.record(
            "token.delegate",
            by=by,
            actor=agent.id,
            subject=subject.subject,
            target=subject.subject,
            outcome="success",
            kind=subject.kind,
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
        scopes = narrow_scopes(req.scopes, subject.scopes, agent.delegable_scopes, holder=holder)
        if not scopes:
            raise PermissionDenied(f"no scope of the subject token is delegable to {agent.id!r}")
        agent_audiences = (self._tokens.issuer, *agent.allowed_audiences)
        shared = [a for a in subject.audiences if a in agent_audiences]
        if not shared:
            raise PermissionDenied(f"no audience of the subject token is allowed for {agent.id!r}")
        audiences = narrow(req.audiences, shared, "audience", holder)
        act: dict[str, Any] = {"sub": self._live.subject_of(agent), "client_id": agent.id}
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
            amr=subject.amr,
            sid=subject.sid,
        )
        return ExchangeResult(minted, self._issued_type(typ), scopes, audiences)


def _may_revoke(by: Principal, target: AccessClaims) -> bool:
    """RFC 7009's "the token's holder": an admin, the token itself, its subject, or the workload it was issued to."""
    held = by.token
    if by.is_admin or (held is not None and held.jti == target.jti):
        return True
    if held is None or held.act is not None:
        return False  # a delegated token speaks for its subject only within its scopes
    if held.subject == target.subject:
        return True  # the principal, for any token issued for it (delegations included)
    # a workload, for tokens issued to it: its own, or delegated ones naming it as the actor
    held_by_identity = target.kind in MACHINE_KINDS or (target.act or {}).get("client_id") == target.client_id
    return held.kind in MACHINE_KINDS and held_by_identity and held.client_id == target.client_id
