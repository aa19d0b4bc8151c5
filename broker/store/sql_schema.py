"""The SQL store's tables (SQLAlchemy Core). Migrations create them; keep the two in step.

``tests/store/test_migrations.py`` compares these definitions with the schema the
Alembic migrations build, so a change here without a migration fails the tests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
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
    "identities",
    "metadata",
    "replay_records",
    "revocations",
    "signing_keys",
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
)
