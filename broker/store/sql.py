"""The Store on SQLite (embedded default) or PostgreSQL, with SQLAlchemy 2 Core.

Every method runs in its own transaction on a pooled connection, so one ``SqlStore``
serves a thread pool. Driver errors that mean "cannot reach the database" become
``Unavailable`` in one place (``_translate_errors``). Compare-and-set and single-use
records are single SQL statements (``UPDATE ... WHERE revision = ...``,
``INSERT ... ON CONFLICT``), so they hold under concurrency on both backends.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Table, create_engine, delete, event, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, Row, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from ..core.audit import AuditEvent, AuditFilter
from ..core.errors import AlreadyExists, BrokerError, Conflict, InvalidArgument, NotFound, Unavailable
from ..core.identities import Binding, Identity, IdentityFilter, IdentityKey, IdentityKind
from ..core.keys import SigningKeyRecord
from ..core.sensitive import Sensitive
from .migrations import BEGIN_IMMEDIATE, upgrade_to_head
from .sealing import Sealer
from .sql_schema import audit_events, identities, replay_records, revocations, signing_keys

__all__ = ["SqlStore"]

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)
_POSTGRES_CONNECT_TIMEOUT_SECONDS = 5
_MAX_REASON = 200


class SqlStore:
    """The Store protocol on SQLite (``sqlite:///path``) or PostgreSQL (``postgresql+psycopg://``)."""

    def __init__(self, url: str, sealer: Sealer, *, echo: bool = False) -> None:
        self._url = make_url(url)
        if self._url.drivername == "postgresql":
            self._url = self._url.set(drivername="postgresql+psycopg")
        self._sealer = sealer
        self._engine = _create_engine(self._url, echo=echo)
        self._dialect = self._url.get_backend_name()

    def __repr__(self) -> str:
        return f"SqlStore({self._url.render_as_string(hide_password=True)!r})"

    # lifecycle --------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest revision (FailedPrecondition if the database is newer)."""
        with _translate_errors(self._url):
            upgrade_to_head(self._engine)

    def ping(self) -> None:
        """Raise Unavailable if the database cannot be reached."""
        with self._transaction() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    # identities -------------------------------------------------------------
    def create_identity(self, identity: Identity) -> Identity:
        """Insert with revision 1; AlreadyExists if the id is taken."""
        if not self._insert_new(identities, {"id": identity.id, **_identity_values(identity), "revision": 1}):
            raise AlreadyExists(f"identity {identity.id!r} already exists")
        return dataclasses.replace(identity, etag="1")

    def get_identity(self, identity_id: str) -> Identity:
        """The identity, or NotFound."""
        with self._transaction() as conn:
            row = conn.execute(select(identities).where(identities.c.id == identity_id)).first()
        if row is None:
            raise NotFound(f"identity {identity_id!r} not found")
        return _identity_from_row(row)

    def list_identities(self, *, after: str, limit: int, flt: IdentityFilter) -> list[Identity]:
        """Up to ``limit`` identities with id > ``after`` matching ``flt``, ordered by id."""
        stmt = (
            select(identities)
            .where(identities.c.id > after, *_equal_to(identities, flt))
            .order_by(identities.c.id)
            .limit(limit)
        )
        with self._transaction() as conn:
            return [_identity_from_row(row) for row in conn.execute(stmt)]

    def update_identity(self, identity: Identity, *, expected_etag: str) -> Identity:
        """Replace the row if its revision is ``expected_etag``; the new etag is the next revision."""
        revision = _revision(expected_etag)
        stmt = (
            update(identities)
            .where(identities.c.id == identity.id, identities.c.revision == revision)
            .values(**_identity_values(identity), revision=revision + 1)
        )
        with self._transaction() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise _missing_or_changed(conn, identity.id)
        return dataclasses.replace(identity, etag=str(revision + 1))

    def delete_identity(self, identity_id: str, *, expected_etag: str | None) -> None:
        """Delete the row (if its revision is ``expected_etag``, when given)."""
        stmt = delete(identities).where(identities.c.id == identity_id)
        if expected_etag is not None:
            stmt = stmt.where(identities.c.revision == _revision(expected_etag))
        with self._transaction() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise _missing_or_changed(conn, identity_id)

    # signing keys -----------------------------------------------------------
    def list_signing_keys(self) -> list[SigningKeyRecord]:
        """Every signing key, unsealed, oldest activation first."""
        stmt = select(signing_keys).order_by(signing_keys.c.activate_time, signing_keys.c.kid)
        with self._transaction() as conn:
            rows = conn.execute(stmt).all()
        return [
            SigningKeyRecord(
                kid=row.kid,
                alg=row.alg,
                private_pem=Sensitive(self._sealer.open(row.sealed_private_key, _key_context(row.kid))),
                create_time=row.create_time,
                activate_time=row.activate_time,
            )
            for row in rows
        ]

    def add_signing_key(self, record: SigningKeyRecord) -> None:
        """Insert a key, its private part sealed; AlreadyExists if the kid is taken."""
        sealed = self._sealer.seal(record.private_pem.reveal(), _key_context(record.kid))
        values = {
            "kid": record.kid,
            "alg": record.alg,
            "sealed_private_key": sealed,
            "create_time": record.create_time,
            "activate_time": record.activate_time,
        }
        if not self._insert_new(signing_keys, values):
            raise AlreadyExists(f"signing key {record.kid!r} already exists")

    def delete_signing_key(self, kid: str) -> None:
        """Remove a key; absent is fine."""
        with self._transaction() as conn:
            conn.execute(delete(signing_keys).where(signing_keys.c.kid == kid))

    # replay protection and revocation ---------------------------------------
    def consume_jti(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """Record a single-use key; False if it is recorded and unexpired. One statement, race-free."""
        insert = self._insert(replay_records).values(key=key, expires_at=expires_at)
        stmt = insert.on_conflict_do_update(
            index_elements=["key"],
            set_={"expires_at": insert.excluded.expires_at},
            where=replay_records.c.expires_at <= now,
        ).returning(replay_records.c.key)
        with self._transaction() as conn:
            return conn.execute(stmt).first() is not None

    def revoke_token(self, jti: str, expires_at: datetime) -> None:
        """Revoke until ``expires_at``; repeating keeps the later expiry."""
        insert = self._insert(revocations).values(jti=jti, expires_at=expires_at)
        stmt = insert.on_conflict_do_update(
            index_elements=["jti"],
            set_={"expires_at": insert.excluded.expires_at},
            where=revocations.c.expires_at < insert.excluded.expires_at,
        )
        with self._transaction() as conn:
            conn.execute(stmt)

    def is_token_revoked(self, jti: str, now: datetime) -> bool:
        """True while a revocation of ``jti`` has not expired."""
        stmt = select(revocations.c.jti).where(revocations.c.jti == jti, revocations.c.expires_at > now)
        with self._transaction() as conn:
            return conn.execute(stmt).first() is not None

    def purge_expired(self, now: datetime) -> int:
        """Delete replay and revocation records expired at ``now``; returns how many."""
        with self._transaction() as conn:
            return sum(
                conn.execute(delete(table).where(table.c.expires_at <= now)).rowcount
                for table in (replay_records, revocations)
            )

    # audit ------------------------------------------------------------------
    def append_audit_event(self, event: AuditEvent) -> None:
        """Insert one event; AlreadyExists if its id is taken."""
        values = {
            "id": event.id,
            "event_time": event.event_time,
            "action": event.action,
            "actor": event.actor,
            "target": event.target,
            "outcome": event.outcome,
            "request_id": event.request_id,
            "details": dict(event.details),
        }
        if not self._insert_new(audit_events, values):
            raise AlreadyExists(f"audit event {event.id!r} already exists")

    def list_audit_events(self, *, before: str, limit: int, flt: AuditFilter) -> list[AuditEvent]:
        """Up to ``limit`` events with id < ``before`` ('' = newest) matching ``flt``, newest first."""
        stmt = select(audit_events).where(*_equal_to(audit_events, flt))
        if before:
            stmt = stmt.where(audit_events.c.id < before)
        stmt = stmt.order_by(audit_events.c.id.desc()).limit(limit)
        with self._transaction() as conn:
            rows = conn.execute(stmt).all()
        return [
            AuditEvent(
                id=row.id,
                event_time=row.event_time,
                action=row.action,
                actor=row.actor,
                target=row.target,
                outcome=row.outcome,
                request_id=row.request_id,
                details=row.details,
            )
            for row in rows
        ]

    # plumbing ---------------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with _translate_errors(self._url), self._engine.begin() as conn:
            yield conn

    def _insert_new(self, table: Table, values: Mapping[str, Any]) -> bool:
        """INSERT unless the primary key is taken; True if the row went in."""
        stmt = (
            self._insert(table)
            .values(values)
            .on_conflict_do_nothing(index_elements=list(table.primary_key))
            .returning(*table.primary_key)
        )
        with self._transaction() as conn:
            return conn.execute(stmt).first() is not None

    def _insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """An INSERT that knows ON CONFLICT, in this backend's dialect."""
        return sqlite.insert(table) if self._dialect == "sqlite" else postgresql.insert(table)


# engines ---------------------------------------------------------------------


def _create_engine(url: URL, *, echo: bool) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, echo=echo)
    if backend == "postgresql":
        connect_args: dict[str, Any] = {"application_name": "identity-broker"}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = _POSTGRES_CONNECT_TIMEOUT_SECONDS
        return create_engine(url, echo=echo, hide_parameters=True, connect_args=connect_args)
    raise ValueError(f"store URL: {backend!r} is not supported (use sqlite:///PATH or postgresql+psycopg://...)")


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    """A file database in WAL mode, shared by a thread pool; SQLAlchemy emits BEGIN itself."""
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        raise ValueError("store URL: SQLite needs a file (sqlite:///PATH/broker.db), not an in-memory database")
    Path(database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        poolclass=QueuePool,
        connect_args={"check_same_thread": False},
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    # Stop the driver from issuing (or skipping) BEGIN on its own: _sqlite_on_begin does it,
    # so reads are consistent and DDL (migrations) is transactional.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(BEGIN_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def _translate_errors(url: URL) -> Iterator[None]:
    """Turn "cannot reach the database" driver errors into Unavailable, credentials left out."""
    try:
        yield
    except DBAPIError as exc:
        if not isinstance(exc, OperationalError | InterfaceError) and not exc.connection_invalidated:
            raise
        raise Unavailable(f"store unavailable: {_short_reason(exc, url)}") from exc
    except PoolTimeoutError as exc:
        raise Unavailable("store unavailable: no free database connection in the pool") from exc


def _short_reason(exc: DBAPIError, url: URL) -> str:
    lines = [line.strip() for line in str(exc.orig or exc).splitlines() if line.strip()]
    reason = lines[0] if lines else type(exc.orig or exc).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason[:_MAX_REASON]


# rows <-> domain objects -------------------------------------------------------


def _equal_to(table: Table, flt: IdentityFilter | AuditFilter) -> list[ColumnElement[bool]]:
    """One equality condition per filter field that is set (field names are column names)."""
    return [
        table.c[name] == (value.value if isinstance(value, Enum) else value)
        for name, value in dataclasses.asdict(flt).items()
        if value is not None
    ]


def _revision(etag: str) -> int:
    """The revision an etag names; -1 (matches nothing) for an etag this store never issued."""
    return int(etag) if etag.isascii() and etag.isdigit() else -1


def _missing_or_changed(conn: Connection, identity_id: str) -> BrokerError:
    exists = conn.execute(select(identities.c.id).where(identities.c.id == identity_id)).first()
    if exists is None:
        return NotFound(f"identity {identity_id!r} not found")
    return Conflict(f"identity {identity_id!r} was changed by someone else (etag mismatch); read it again")


def _key_context(kid: str) -> str:
    return f"signing_key:{kid}"


def _identity_values(identity: Identity) -> dict[str, Any]:
    """Every column but id and revision."""
    return {
        "kind": identity.kind.value,
        "tenant": identity.tenant,
        "display_name": identity.display_name,
        "disabled": identity.disabled,
        "max_token_ttl_seconds": _ttl_seconds(identity.max_token_ttl),
        "allowed_scopes": list(identity.allowed_scopes),
        "allowed_audiences": list(identity.allowed_audiences),
        "bindings": [
            {"issuer": b.issuer, "subject": b.subject, "required_claims": dict(b.required_claims)}
            for b in identity.bindings
        ],
        "public_keys": [_key_json(k) for k in identity.public_keys],
        "delegable_scopes": list(identity.delegable_scopes),
        "create_time": identity.create_time,
        "update_time": identity.update_time,
    }


def _identity_from_row(row: Row[Any]) -> Identity:
    ttl = row.max_token_ttl_seconds
    return Identity(
        id=row.id,
        kind=IdentityKind(row.kind),
        tenant=row.tenant,
        display_name=row.display_name,
        allowed_scopes=tuple(row.allowed_scopes),
        allowed_audiences=tuple(row.allowed_audiences),
        max_token_ttl=None if ttl is None else timedelta(seconds=ttl),
        bindings=tuple(Binding(**b) for b in row.bindings),
        public_keys=tuple(_key_from_json(k) for k in row.public_keys),
        delegable_scopes=tuple(row.delegable_scopes),
        disabled=row.disabled,
        create_time=row.create_time,
        update_time=row.update_time,
        etag=str(row.revision),
    )


def _ttl_seconds(ttl: timedelta | None) -> int | None:
    if ttl is None:
        return None
    if ttl % timedelta(seconds=1):
        raise InvalidArgument("max_token_ttl: must be a whole number of seconds")
    return ttl // timedelta(seconds=1)


def _key_json(key: IdentityKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "jwk": dict(key.jwk),
        "create_time": _iso(key.create_time),
        "expire_time": None if key.expire_time is None else _iso(key.expire_time),
    }


def _key_from_json(data: Mapping[str, Any]) -> IdentityKey:
    expire = data["expire_time"]
    return IdentityKey(
        kid=data["kid"],
        jwk=data["jwk"],
        create_time=datetime.fromisoformat(data["create_time"]),
        expire_time=None if expire is None else datetime.fromisoformat(expire),
    )


def _iso(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("naive datetime: the store takes timezone-aware datetimes")
    return when.astimezone(UTC).isoformat()
