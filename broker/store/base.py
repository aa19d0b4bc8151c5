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

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from ..core.audit import AuditEvent, AuditFilter
from ..core.identities import Identity, IdentityFilter
from ..core.issuers import TrustedIssuer
from ..core.keys import SigningKeyRecord
from ..core.secrets import Secret, SecretEvent, SecretVersion


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

    def bound_identity_ids(self, issuer: str, subject: str) -> list[str]:
        """Ids of identities with a binding to ``subject`` of ``issuer``, from an index (no scan).

        May include identities that no longer have such a binding; callers re-check.
        """
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

    def consume_jtis(self, items: Sequence[tuple[str, datetime]], now: datetime) -> list[bool]:
        """``consume_jti`` for a batch in one transaction (group commit), one answer per item;
        a key repeated within the batch is consumed by its first occurrence only."""
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

    # trusted external issuers ---------------------------------------------------
    def create_issuer(self, issuer: TrustedIssuer) -> TrustedIssuer:
        """Insert; AlreadyExists if the URL is taken. Returns it with its etag."""
        ...

    def get_issuer(self, issuer: str) -> TrustedIssuer:
        """The issuer, or NotFound."""
        ...

    def list_issuers(self, *, after: str, limit: int) -> list[TrustedIssuer]:
        """Up to ``limit`` issuers with URL > ``after``, ordered by URL."""
        ...

    def delete_issuer(self, issuer: str) -> None:
        """Delete (NotFound if absent)."""
        ...

    # rotating secrets -----------------------------------------------------------
    def create_secret(self, secret: Secret, first: SecretVersion) -> Secret:
        """Insert the secret and its first CURRENT version in one step (value sealed)."""
        ...

    def get_secret(self, secret_id: str) -> Secret:
        """The secret's metadata, or NotFound."""
        ...

    def list_secrets(self, *, after: str, limit: int) -> list[Secret]:
        """Up to ``limit`` secrets with id > ``after``, ordered by id."""
        ...

    def update_secret(self, secret: Secret, *, expected_etag: str) -> Secret:
        """Replace the metadata (policy, next rotation) if the etag matches (else Conflict)."""
        ...

    def delete_secret(self, secret_id: str, *, expected_etag: str | None, now: datetime) -> None:
        """Delete the secret and every version (material gone); records a DELETED event."""
        ...

    def rotate_secret(
        self,
        secret_id: str,
        *,
        expected_version: int,
        new: SecretVersion,
        grace_expire_time: datetime,
        next_rotation_time: datetime | None,
    ) -> Secret:
        """One atomic step: if the CURRENT version is still ``expected_version`` (else
        Conflict), it becomes PREVIOUS until ``grace_expire_time``, ``new`` becomes CURRENT,
        the next rotation time is set and a ROTATED event is recorded."""
        ...

    def list_secret_versions(self, secret_id: str, *, before: int, limit: int) -> list[SecretVersion]:
        """Versions below ``before`` (0: all), newest first, without values."""
        ...

    def get_secret_version(self, secret_id: str, version: int) -> SecretVersion:
        """One version with its value unsealed (None once destroyed), or NotFound."""
        ...

    def expire_secret_versions(self, now: datetime) -> list[SecretEvent]:
        """Turn PREVIOUS versions whose grace ended by ``now`` EXPIRED; records and
        returns one GRACE_EXPIRED event each."""
        ...

    def destroy_expired_material(self, now: datetime) -> int:
        """Erase the material of EXPIRED versions past their retention; returns how many."""
        ...

    def due_secrets(self, now: datetime, limit: int) -> list[Secret]:
        """Secrets whose next rotation time is at or before ``now``."""
        ...

    def list_secret_events(self, *, after_seq: int, limit: int) -> list[SecretEvent]:
        """Events with seq > ``after_seq`` in seq order (all secrets; callers filter)."""
        ...

    def last_secret_event_seq(self) -> int:
        """The highest event seq so far (0 when none)."""
        ...

    def list_secret_events_of(self, secret_id: str, *, after: int, limit: int) -> list[SecretEvent]:
        """Events of one secret id with secret_seq > ``after``, in order (its numbers have no gaps)."""
        ...

    def last_secret_event_of(self, secret_id: str) -> int:
        """The secret_seq of the newest event of ``secret_id`` (0 when none)."""
        ...

    # leader lease ----------------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> int | None:
        """Take or renew the lease for ``holder`` if free, expired or already its own.

        Returns the fencing token (it grows every time the holder changes), or None when
        another holder's lease is still live.
        """
        ...

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` holds it."""
        ...

    # audit ------------------------------------------------------------------
    def append_audit_event(self, event: AuditEvent) -> None:
        """Append one event."""
        ...

    def list_audit_events(self, *, before: str, limit: int, flt: AuditFilter) -> list[AuditEvent]:
        """Up to ``limit`` events with id < ``before`` ('' = newest), newest first."""
        ...

    def purge_audit_events(self, before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` of the oldest events older than ``before``; returns how many."""
        ...

    # lifecycle --------------------------------------------------------------
    def ping(self) -> None:
        """Raise Unavailable if the backend cannot be reached."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
