"""The SQL store's tables (SQLAlchemy Core). Migrations create them; keep the two in step.

``tests/store/test_migrations.py`` compares these definitions with the schema the
Alembic migrations build, so a change here without a migration fails the tests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "audit_events",
    "counters",
    "identities",
    "identity_bindings",
    "leases",
    "login_failures",
    "metadata",
    "people",
    "rate_buckets",
    "refresh_families",
    "refresh_tokens",
    "replay_records",
    "revocations",
    "secret_events",
    "secret_versions",
    "secrets",
    "signing_keys",
    "trusted_issuers",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend.

    SQLite keeps no zone: values are stored as naive UTC and get UTC back on read.
    Naive datetimes are refused: every "now" in the broker is aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the store takes timezone-aware datetimes")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONText(TypeDecorator[Any]):
    """A JSON document kept as text (compact, sorted keys) on every backend."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

identities = Table(
    "identities",
    metadata,
    Column("id", String(63), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("tenant", String(63), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("max_token_ttl_seconds", Integer, nullable=True),
    Column("allowed_scopes", JSONText, nullable=False),
    Column("allowed_audiences", JSONText, nullable=False),
    Column("bindings", JSONText, nullable=False),
    Column("public_keys", JSONText, nullable=False),
    Column("delegable_scopes", JSONText, nullable=False),
    Column("create_time", UTCDateTime, nullable=True),
    Column("update_time", UTCDateTime, nullable=True),
    Column("revision", Integer, nullable=False),
    #: Revision 0003: tokens issued before it are dead (NULL: since create_time).
    Column("tokens_valid_from", UTCDateTime, nullable=True),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(128), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("sealed_private_key", LargeBinary, nullable=False),
    Column("create_time", UTCDateTime, nullable=False),
    Column("activate_time", UTCDateTime, nullable=False),
)

replay_records = Table(
    "replay_records",
    metadata,
    Column("key", Text, primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Index(None, "expires_at"),
)

revocations = Table(
    "revocations",
    metadata,
    Column("jti", Text, primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Index(None, "expires_at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("event_time", UTCDateTime, nullable=False),
    Column("action", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("request_id", Text, nullable=False),
    Column("details", JSONText, nullable=False),
    Index(None, "actor", "id"),
    Index(None, "target", "id"),
    #: Revision 0004: the hash chain (core/audit.py). The unique seq is its compare-and-set:
    #: of two replicas appending at once, one gets the next number and the other retries.
    Column("seq", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("client_address", Text, nullable=False),
    Column("replica", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Index(None, "seq", unique=True),
)

# revision 0002 ------------------------------------------------------------------------

trusted_issuers = Table(
    "trusted_issuers",
    metadata,
    Column("issuer", Text, primary_key=True),
    Column("jwks_json", Text, nullable=False),
    Column("jwks_file", Text, nullable=False),
    Column("jwks_url", Text, nullable=False),
    Column("algorithms", JSONText, nullable=False),
    Column("audience", Text, nullable=False),
    Column("single_use", Boolean, nullable=False),
    Column("max_token_age_seconds", Integer, nullable=True),
    Column("create_time", UTCDateTime, nullable=True),
    Column("revision", Integer, nullable=False),
)

secrets = Table(
    "secrets",
    metadata,
    Column("id", Text, primary_key=True),
    Column("generator", String(32), nullable=False),
    Column("length", Integer, nullable=False),
    Column("rotation_interval_seconds", Integer, nullable=True),
    Column("grace_period_seconds", Integer, nullable=False),
    Column("retention_seconds", Integer, nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("next_rotation_time", UTCDateTime, nullable=True),
    Column("create_time", UTCDateTime, nullable=True),
    Column("update_time", UTCDateTime, nullable=True),
    Column("revision", Integer, nullable=False),
    Index(None, "next_rotation_time"),
)

secret_versions = Table(
    "secret_versions",
    metadata,
    Column("secret_id", Text, ForeignKey("secrets.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("create_time", UTCDateTime, nullable=False),
    Column("grace_expire_time", UTCDateTime, nullable=True),
    Column("expire_time", UTCDateTime, nullable=True),
    Column("destroyed", Boolean, nullable=False),
    #: NULL once destroyed.
    Column("sealed_value", LargeBinary, nullable=True),
    Index(None, "state", "grace_expire_time"),
)

#: Secret events outlive their secret (a DELETED event names a secret that is gone).
secret_events = Table(
    "secret_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("secret_id", Text, nullable=False),
    Column("type", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("current_version", Integer, nullable=False),
    Column("event_time", UTCDateTime, nullable=False),
    #: Revision 0003: the event's number among the events of its secret id (1, 2, 3, ...),
    #: what WatchSecret shows, so a watcher learns nothing of other secrets' events.
    Column("secret_seq", BigInteger, nullable=False),
    Index(None, "secret_id", "secret_seq", unique=True),
)

#: Named counters; ``secret_events`` hands out event seqs. Taking the next value locks the
#: row until commit, so seqs become visible in order and a reader never skips one.
counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("holder", Text, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    #: The fencing token: +1 every time the holder changes.
    Column("token", BigInteger, nullable=False),
)

# revision 0003 ------------------------------------------------------------------------

#: (issuer, subject) -> identity: the bindings of every identity, kept in step with the
#: identities row in the same transaction, so an external token finds its identity with
#: one indexed read however many identities there are.
identity_bindings = Table(
    "identity_bindings",
    metadata,
    Column("issuer", Text, primary_key=True),
    Column("subject", Text, primary_key=True),
    Column("identity_id", String(63), ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "identity_id"),
)

# revision 0005 ------------------------------------------------------------------------

#: Token buckets of the rate limits shared by every process on this store (core/ratelimit.py):
#: times are epoch seconds; a row whose bucket is full again by ``full_at`` can go.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", Text, primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("at", Float, nullable=False),
    Column("full_at", Float, nullable=False),
    Column("refused", Boolean, nullable=False),
    Index(None, "full_at"),
)

#: Revision 0006: people, their logins (refresh families and tokens), failed-login counts.
people = Table(
    "people",
    metadata,
    Column("username", String(128), primary_key=True),
    Column("tenant", String(63), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("allowed_scopes", JSONText, nullable=False),
    Column("allowed_audiences", JSONText, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("create_time", UTCDateTime, nullable=True),
    Column("update_time", UTCDateTime, nullable=True),
    Column("tokens_valid_from", UTCDateTime, nullable=True),
    Column("mfa_required", Boolean, nullable=False),
    Column("mfa_confirmed", Boolean, nullable=False),
    Column("mfa_last_step", BigInteger, nullable=False),
    Column("recovery_hashes", JSONText, nullable=False),
    Column("sealed_totp_seed", LargeBinary, nullable=True),
    Column("setup_code_hash", Text, nullable=False),
    Column("setup_code_expire_time", UTCDateTime, nullable=True),
    Column("revision", Integer, nullable=False),
)

refresh_families = Table(
    "refresh_families",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("username", String(128), nullable=False),
    Column("tenant", String(63), nullable=False),
    Column("scopes", JSONText, nullable=False),
    Column("audiences", JSONText, nullable=False),
    Column("amr", JSONText, nullable=False),
    Column("create_time", UTCDateTime, nullable=False),
    Column("last_used_time", UTCDateTime, nullable=False),
    Column("expire_time", UTCDateTime, nullable=False),
    Column("end_time", UTCDateTime, nullable=True),
    Column("end_reason", Text, nullable=False),
    Index(None, "username"),
    Index(None, "expire_time"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("family_id", String(64), ForeignKey("refresh_families.id", ondelete="CASCADE"), nullable=False),
    Column("used", Boolean, nullable=False),
    Index(None, "family_id"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("key", Text, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("first_time", UTCDateTime, nullable=False),
    Column("last_time", UTCDateTime, nullable=False),
    Column("locked", Boolean, nullable=False),
    Column("revision", Integer, nullable=False),
)
