"""Who is calling: the principal every core service takes, authorizes and audits.

A ``Principal`` is built once per request at the edge (api/handler.py) from a broker
token that ``core/liveness.py`` found still valid, or is the anonymous caller of a
public RPC, or the broker itself (bootstrap, the scheduler) with exactly the scopes its
job needs. Services check what it may do with ``require`` and ``require_on`` and write
the audit event with its actor and request id; nothing below the edge reads a
contextvar or a gRPC context to learn who asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PermissionDenied
from .tokens import AccessClaims

#: Manages identities, issuers and secrets (never reads a secret's value).
ADMIN_SCOPE = "broker.admin"
#: The ``kind`` of the broker acting on its own (bootstrap, scheduler); never in a token.
BROKER_KIND = "broker"
#: The actor of a caller who presented no token (public RPCs).
ANONYMOUS = "unauthenticated"


@dataclass(frozen=True, slots=True)
class Principal:
    """One caller: who acts, for whom, in which tenant, with which scopes, in which request."""

    actor: str
    """Who acts: the token's client_id (the agent, in a delegation), or the broker's job."""
    subject: str
    """On whose behalf: the token's sub (the person or service an agent acts for)."""
    kind: str
    """The token's kind (service_account, ai_agent, ...), BROKER_KIND, or '' when anonymous."""
    tenant: str = ""
    scopes: frozenset[str] = frozenset()
    request_id: str = ""
    peer: str = ""
    """The client's address as gRPC reports it ('' for the broker itself)."""
    token: AccessClaims | None = None
    """The verified token the caller presented, if any."""

    @classmethod
    def of_token(cls, claims: AccessClaims, *, request_id: str = "", peer: str = "") -> Principal:
        """The caller holding a broker token that is valid now (see core/liveness.py)."""
        return cls(
            actor=claims.client_id or claims.subject,
            subject=claims.subject,
            kind=claims.kind,
            tenant=claims.tenant,
            scopes=frozenset(claims.scopes),
            request_id=request_id,
            peer=peer,
            token=claims,
        )

    @classmethod
    def anonymous(cls, *, request_id: str = "", peer: str = "") -> Principal:
        """A caller of a public RPC, who has proved nothing (yet)."""
        return cls(actor=ANONYMOUS, subject="", kind="", request_id=request_id, peer=peer)

    @classmethod
    def broker(cls, job: str, *scopes: str, request_id: str = "") -> Principal:
        """The broker itself doing ``job`` with exactly ``scopes``; reached only from code."""
        return cls(actor=job, subject=job, kind=BROKER_KIND, scopes=frozenset(scopes), request_id=request_id)

    @property
    def is_admin(self) -> bool:
        """True if the caller holds broker.admin."""
        return ADMIN_SCOPE in self.scopes

    def require(self, scope: str) -> None:
        """PermissionDenied unless the caller holds ``scope`` itself."""
        if scope not in self.scopes:
            raise PermissionDenied(f"this call needs scope {scope}")

    def require_on(self, resource_id: str, *scopes: str, admin: bool = False) -> None:
        """PermissionDenied unless the caller holds one of ``scopes`` for the resource
        (``<scope>:<id>`` or ``<scope>:*``), or broker.admin when ``admin``."""
        if admin and self.is_admin:
            return
        if any(f"{s}:{resource_id}" in self.scopes or f"{s}:*" in self.scopes for s in scopes):
            return
        needed = [f"{s}:{resource_id}" for s in scopes] + ([ADMIN_SCOPE] if admin else [])
        raise PermissionDenied(f"this call needs scope {' or '.join(needed)}")
