"""The Store protocol the core depends on.

Every backend (SQLite and Postgres in sql.py, Vault/OpenBao in vault.py) implements it
and passes the one contract suite in tests/store/. Rules every backend keeps:

- methods are synchronous and thread-safe; the api layer calls them off the event loop;
- domain objects go in and come out (frozen dataclasses), never rows;
- a missing resource raises ``NotFound``, a duplicate ``AlreadyExists``, a lost
  compare-and-set ``Conflict``; an unreachable backend ``Unavailable``; nothing is ever
  half-written;
- etags are opaque strings the store assigns on every write;
- secret material (signing keys, secret values) is sealed before it is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ..core.audit import AuditEvent, AuditFilter
from ..core.identities import Identity, IdentityFilter
from ..core.keys import SigningKeyRecord


class Store(Protocol):
    """Everything the broker persists."""

    # identities -------------------------------------------------------------
    def create_identity(self, identity: Identity) -> Identity:
        """Insert; AlreadyExists if the id is taken. Returns it with its etag."""
        ...

    def get_identity(self, identity_id: str) -> Identity:
        """The identity, or NotFound."""
        ...

    def list_identities(self, *, after: str, limit: int, flt: IdentityFilter) -> list[Identity]:
        """Up to ``limit`` identities with id > ``after``, ordered by id."""
        ...

    def update_identity(self, identity: Identity, *, expected_etag: str) -> Identity:
        """Replace if the stored etag equals ``expected_etag`` (else Conflict)."""
        ...

    def delete_identity(self, identity_id: str, *, expected_etag: str | None) -> None:
        """Delete (NotFound if absent, Conflict on a stale etag)."""
        ...

    # signing keys -----------------------------------------------------------
    def list_signing_keys(self) -> list[SigningKeyRecord]:
        """Every stored signing key, unsealed."""
        ...

    def add_signing_key(self, record: SigningKeyRecord) -> None:
        """Insert a signing key (sealed at rest)."""
        ...

    def delete_signing_key(self, kid: str) -> None:
        """Remove a signing key; absent is fine."""
        ...

    # replay protection and revocation --------------------------------------------
    def consume_jti(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """Record a single-use id; False if it was already recorded and has not expired."""
        ...

    def revoke_token(self, jti: str, expires_at: datetime) -> None:
        """Mark a token id revoked until ``expires_at`` (idempotent)."""
        ...

    def is_token_revoked(self, jti: str, now: datetime) -> bool:
        """True if the id is revoked and the revocation has not expired."""
        ...

    def purge_expired(self, now: datetime) -> int:
        """Drop replay and revocation records past their expiry; returns how many."""
        ...

    # audit ------------------------------------------------------------------
    def append_audit_event(self, event: AuditEvent) -> None:
        """Append one event."""
        ...

    def list_audit_events(self, *, before: str, limit: int, flt: AuditFilter) -> list[AuditEvent]:
        """Up to ``limit`` events with id < ``before`` ('' = newest), newest first."""
        ...

    # lifecycle --------------------------------------------------------------
    def ping(self) -> None:
        """Raise Unavailable if the backend cannot be reached."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
