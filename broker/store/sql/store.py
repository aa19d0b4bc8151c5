"""``SqlStore``: the Store on SQLite (embedded default) or PostgreSQL, with SQLAlchemy 2 Core.

Every method runs in its own transaction on a pooled connection, so one ``SqlStore``
serves a thread pool. Driver errors that mean "cannot reach the database" become
``Unavailable`` in one place (``errors.translate_errors``). Concurrency rests on single
statements that both backends run atomically: compare-and-set is
``UPDATE ... WHERE revision = :etag`` (or ``current_version`` for rotations), single-use
records and leases are ``INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING``.
Secret events take their seq from a counter row locked until commit, so readers
polling ``seq > n`` never miss one. Secret material is sealed (store/sealing.py) with a
context naming its row. Engines are opened by ``engine.py``; the helpers every method
shares on rows (codecs, etags, compare-and-set misses, event seqs) are ``rows.py``'s;
people and their logins are ``people.py``'s part of the class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ...core.audit import AuditEvent, AuditFilter, ChainHead
from ...core.errors import AlreadyExists, NotFound
from ...core.identities import Identity, IdentityFilter
from ...core.issuers import TrustedIssuer
from ...core.keys import SigningKeyRecord
from ...core.secrets import EventType, Secret, SecretEvent, SecretVersion, VersionState, material_due
from ...core.sensitive import Sensitive
from .. import records
from ..migrations import BEGIN_IMMEDIATE, upgrade_to_head
from ..records import DATETIME, RELEASED
from ..sealing import Sealer, signing_key_context
from . import audit
from .engine import engine_url, open_engine
from .errors import translate_errors
from .people import SqlPeople
from .rates import take_token
from .replay import ReplayWriter
from .rewrap import rewrap
from .rows import (
    EVENT_COUNTER,
    equal_to,
    etag_revision,
    event_from_record,
    identity_from_row,
    index_bindings,
    issuer_from_row,
    missing_or_changed,
    missing_or_rotated,
    record_events,
    secret_from_row,
    version_from_row,
)
from .schema import (
    counters,
    identities,
    identity_bindings,
    leases,
    rate_buckets,
    replay_records,
    revocations,
    secret_events,
    secret_versions,
    secrets,
    signing_keys,
    trusted_issuers,
)

__all__ = ["SqlStore"]


class SqlStore(SqlPeople):
    """The Store protocol on SQLite (``sqlite:///path``) or PostgreSQL (``postgresql+psycopg://``)."""

    def __init__(self, url: str, sealer: Sealer, *, echo: bool = False) -> None:
        self._url = engine_url(url)
        self._sealer = sealer
        self._engine = open_engine(self._url, echo=echo)
        self._dialect = self._url.get_backend_name()
        # The exchange hot path: its replay records, and its identity read (on a cache miss).
        self._replay = ReplayWriter(self._engine)
        self._get_identity_stmt = select(identities).where(identities.c.id == bindparam("id"))

    def __repr__(self) -> str:
        return f"SqlStore({self._url.render_as_string(hide_password=True)!r})"

    # lifecycle --------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest revision (FailedPrecondition if the database is newer)."""
        with translate_errors(self._url):
            upgrade_to_head(self._engine)

    def ping(self) -> None:
        """Raise Unavailable if the database cannot be reached."""
        with self._transaction() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        """Close every pooled connection."""
        self._replay.close()
        self._engine.dispose()

    # identities -------------------------------------------------------------
    def create_identity(self, identity: Identity) -> Identity:
        """Insert with revision 1; AlreadyExists if the id is taken."""
        values = {"id": identity.id, **records.identity_fields(identity, DATETIME), "revision": 1}
        with self._transaction() as conn:
            if not self._insert_new(conn, identities, values):
                raise AlreadyExists(f"identity {identity.id!r} already exists")
            index_bindings(conn, identity)
        return dataclasses.replace(identity, etag="1")

    def get_identity(self, identity_id: str) -> Identity:
        """The identity, or NotFound."""
        with self._transaction() as conn:
            row = conn.execute(self._get_identity_stmt, {"id": identity_id}).first()
        if row is None:
            raise NotFound(f"identity {identity_id!r} not found")
        return identity_from_row(row)

    def list_identities(self, *, after: str, limit: int, flt: IdentityFilter) -> list[Identity]:
        """Up to ``limit`` identities with id > ``after`` matching ``flt``, ordered by id."""
        stmt = (
            select(identities)
            .where(identities.c.id > after, *equal_to(identities, flt))
            .order_by(identities.c.id)
            .limit(limit)
        )
        with self._transaction() as conn:
            return [identity_from_row(row) for row in conn.execute(stmt)]

    def update_identity(self, identity: Identity, *, expected_etag: str) -> Identity:
        """Replace the row if its revision is ``expected_etag``; the new etag is the next revision."""
        revision = etag_revision(expected_etag)
        stmt = (
            update(identities)
            .where(identities.c.id == identity.id, identities.c.revision == revision)
            .values(**records.identity_fields(identity, DATETIME), revision=revision + 1)
        )
        with self._transaction() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise missing_or_changed(conn, identities.c.id, identity.id, "identity")
            conn.execute(delete(identity_bindings).where(identity_bindings.c.identity_id == identity.id))
            index_bindings(conn, identity)
        return dataclasses.replace(identity, etag=str(revision + 1))

    def delete_identity(self, identity_id: str, *, expected_etag: str | None) -> None:
        """Delete the row (if its revision is ``expected_etag``, when given)."""
        stmt = delete(identities).where(identities.c.id == identity_id)
        if expected_etag is not None:
            stmt = stmt.where(identities.c.revision == etag_revision(expected_etag))
        with self._transaction() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise missing_or_changed(conn, identities.c.id, identity_id, "identity")

    def bound_identity_ids(self, issuer: str, subject: str) -> list[str]:
        """Ids of the identities with a binding to ``subject`` of ``issuer`` (one indexed read)."""
        stmt = (
            select(identity_bindings.c.identity_id)
            .where(identity_bindings.c.issuer == issuer, identity_bindings.c.subject == subject)
            .order_by(identity_bindings.c.identity_id)
        )
        with self._transaction() as conn:
            return [row.identity_id for row in conn.execute(stmt)]

    # signing keys -----------------------------------------------------------
    def list_signing_keys(self) -> list[SigningKeyRecord]:
        """Every signing key, unsealed, oldest activation first."""
        stmt = select(signing_keys).order_by(signing_keys.c.activate_time, signing_keys.c.kid)
        with self._transaction() as conn:
            rows = conn.execute(stmt).all()
        return [
            records.signing_key_from_record(
                row._mapping,
                DATETIME,
                private_pem=Sensitive(self._sealer.open(row.sealed_private_key, signing_key_context(row.kid))),
            )
            for row in rows
        ]

    def add_signing_key(self, record: SigningKeyRecord) -> None:
        """Insert a key, its private part sealed; AlreadyExists if the kid is taken."""
        sealed = self._sealer.seal(record.private_pem.reveal(), signing_key_context(record.kid))
        values = {**records.signing_key_fields(record, DATETIME), "sealed_private_key": sealed}
        with self._transaction() as conn:
            if not self._insert_new(conn, signing_keys, values):
                raise AlreadyExists(f"signing key {record.kid!r} already exists")

    def delete_signing_key(self, kid: str) -> None:
        """Remove a key; absent is fine."""
        with self._transaction() as conn:
            conn.execute(delete(signing_keys).where(signing_keys.c.kid == kid))

    # replay protection and revocation ---------------------------------------
    def consume_jti(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """Record a single-use key; False if it is recorded and unexpired. One statement, race-free."""
        return self.consume_jtis([(key, expires_at)], now)[0]

    def consume_jtis(self, items: Sequence[tuple[str, datetime]], now: datetime) -> list[bool]:
        """Record many single-use keys in one transaction (group commit); one answer per item.

        A key given twice in one batch counts once: its later occurrences answer False.
        """
        first: dict[str, datetime] = {}
        for key, expires_at in items:
            first.setdefault(key, expires_at)
        won = self._replay.insert_new(first, now)
        answers = []
        for key, _ in items:
            answers.append(key in won)
            won.discard(key)
        return answers

    def revoke_token(self, jti: str, expires_at: datetime) -> None:
        """Revoke until ``expires_at``; repeating keeps the later expiry."""
        upsert = self._insert(revocations).values(jti=jti, expires_at=expires_at)
        stmt = upsert.on_conflict_do_update(
            index_elements=["jti"],
            set_={"expires_at": upsert.excluded.expires_at},
            where=revocations.c.expires_at < upsert.excluded.expires_at,
        )
        with self._transaction() as conn:
            conn.execute(stmt)

    def is_token_revoked(self, jti: str, now: datetime) -> bool:
        """True while a revocation of ``jti`` has not expired."""
        stmt = select(revocations.c.jti).where(revocations.c.jti == jti, revocations.c.expires_at > now)
        with self._transaction() as conn:
            return conn.execute(stmt).first() is not None

    def purge_expired(self, now: datetime) -> int:
        """Delete replay and revocation records expired at ``now``, and rate buckets full
        again by then; returns how many."""
        full = delete(rate_buckets).where(rate_buckets.c.full_at <= now.timestamp())
        with self._transaction() as conn:
            expired = (delete(table).where(table.c.expires_at <= now) for table in (replay_records, revocations))
            return sum(conn.execute(stmt).rowcount for stmt in (*expired, full))

    def rewrap_sealed(self, *, limit: int) -> int:
        """Seal again under the current KEK up to ``limit`` blobs sealed under an older one (rewrap.py)."""
        if not self._sealer.rotating:
            return 0
        with self._transaction() as conn:
            return rewrap(conn, self._sealer, limit=limit)

    def take_rate_token(self, key: str, *, burst: int, per_second: float, now: float) -> float:
        """Spend one token of ``key``'s shared bucket (rates.py): 0.0, or seconds to wait."""
        with self._transaction() as conn:
            return take_token(self._insert(rate_buckets), conn, key, burst=burst, per_second=per_second, now=now)

    # trusted external issuers -----------------------------------------------
    def create_issuer(self, issuer: TrustedIssuer) -> TrustedIssuer:
        """Insert with revision 1; AlreadyExists if the issuer URL is taken."""
        values = {"issuer": issuer.issuer, **records.issuer_fields(issuer, DATETIME), "revision": 1}
        with self._transaction() as conn:
            if not self._insert_new(conn, trusted_issuers, values):
                raise AlreadyExists(f"issuer {issuer.issuer!r} already exists")
        return dataclasses.replace(issuer, etag="1")

    def get_issuer(self, issuer: str) -> TrustedIssuer:
        """The issuer, or NotFound."""
        with self._transaction() as conn:
            row = conn.execute(select(trusted_issuers).where(trusted_issuers.c.issuer == issuer)).first()
        if row is None:
            raise NotFound(f"issuer {issuer!r} not found")
        return issuer_from_row(row)

    def list_issuers(self, *, after: str, limit: int) -> list[TrustedIssuer]:
        """Up to ``limit`` issuers with URL > ``after``, ordered by URL."""
        column = trusted_issuers.c.issuer
        stmt = select(trusted_issuers).where(column > after).order_by(column).limit(limit)
        with self._transaction() as conn:
            return [issuer_from_row(row) for row in conn.execute(stmt)]

    def delete_issuer(self, issuer: str) -> None:
        """Delete; NotFound if absent."""
        with self._transaction() as conn:
            if conn.execute(delete(trusted_issuers).where(trusted_issuers.c.issuer == issuer)).rowcount == 0:
                raise NotFound(f"issuer {issuer!r} not found")

    # rotating secrets -------------------------------------------------------
    def create_secret(self, secret: Secret, first: SecretVersion) -> Secret:
        """Insert the secret and its first version (made CURRENT, value sealed) in one transaction."""
        created = dataclasses.replace(secret, current_version=first.version, etag="1")
        version_row = self._version_values(first, VersionState.CURRENT)
        with self._transaction() as conn:
            if not self._insert_new(
                conn, secrets, {"id": secret.id, **records.secret_fields(created, DATETIME), "revision": 1}
            ):
                raise AlreadyExists(f"secret {secret.id!r} already exists")
            conn.execute(insert(secret_versions).values(version_row))
        return created

    def get_secret(self, secret_id: str) -> Secret:
        """The secret's metadata, or NotFound."""
        with self._transaction() as conn:
            row = conn.execute(select(secrets).where(secrets.c.id == secret_id)).first()
        if row is None:
            raise NotFound(f"secret {secret_id!r} not found")
        return secret_from_row(row)

    def list_secrets(self, *, after: str, limit: int) -> list[Secret]:
        """Up to ``limit`` secrets with id > ``after``, ordered by id."""
        stmt = select(secrets).where(secrets.c.id > after).order_by(secrets.c.id).limit(limit)
        with self._transaction() as conn:
            return [secret_from_row(row) for row in conn.execute(stmt)]

    def update_secret(self, secret: Secret, *, expected_etag: str) -> Secret:
        """Replace the metadata if the etag matches; the current version is rotate_secret's alone."""
        values = records.secret_fields(secret, DATETIME)
        del values["current_version"]
        stmt = (
            update(secrets)
            .where(secrets.c.id == secret.id, secrets.c.revision == etag_revision(expected_etag))
            .values(**values, revision=secrets.c.revision + 1)
            .returning(*secrets.c)
        )
        with self._transaction() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                raise missing_or_changed(conn, secrets.c.id, secret.id, "secret")
        return secret_from_row(row)

    def delete_secret(self, secret_id: str, *, expected_etag: str | None, now: datetime) -> None:
        """Delete the secret; its versions go with it (ON DELETE CASCADE); records DELETED."""
        stmt = delete(secrets).where(secrets.c.id == secret_id)
        if expected_etag is not None:
            stmt = stmt.where(secrets.c.revision == etag_revision(expected_etag))
        with self._transaction() as conn:
            row = conn.execute(stmt.returning(secrets.c.current_version)).first()
            if row is None:
                raise missing_or_changed(conn, secrets.c.id, secret_id, "secret")
            record_events(conn, [(secret_id, EventType.DELETED, row.current_version, 0, now)])

    def rotate_secret(
        self,
        secret_id: str,
        *,
        expected_version: int,
        new: SecretVersion,
        grace_expire_time: datetime,
        next_rotation_time: datetime | None,
    ) -> Secret:
        """If ``expected_version`` is still CURRENT: it becomes PREVIOUS, ``new`` CURRENT, one event ROTATED."""
        promote = (
            update(secrets)
            .where(secrets.c.id == secret_id, secrets.c.current_version == expected_version)
            .values(
                current_version=new.version,
                next_rotation_time=next_rotation_time,
                update_time=new.create_time,
                revision=secrets.c.revision + 1,
            )
            .returning(*secrets.c)
        )
        demote = (
            update(secret_versions)
            .where(secret_versions.c.secret_id == secret_id, secret_versions.c.version == expected_version)
            .values(state=VersionState.PREVIOUS.value, grace_expire_time=grace_expire_time)
        )
        version_row = self._version_values(new, VersionState.CURRENT)
        with self._transaction() as conn:
            row = conn.execute(promote).first()
            if row is None:
                raise missing_or_rotated(conn, secret_id, expected_version)
            conn.execute(demote)
            conn.execute(insert(secret_versions).values(version_row))
            record_events(conn, [(secret_id, EventType.ROTATED, new.version, new.version, new.create_time)])
        return secret_from_row(row)

    def list_secret_versions(self, secret_id: str, *, before: int, limit: int) -> list[SecretVersion]:
        """Versions below ``before`` (0: all), newest first, without values; NotFound for no secret."""
        versions = secret_versions
        stmt = (
            select(*(c for c in versions.c if c is not versions.c.sealed_value))
            .where(versions.c.secret_id == secret_id)
            .order_by(versions.c.version.desc())
            .limit(limit)
        )
        if before > 0:
            stmt = stmt.where(versions.c.version < before)
        with self._transaction() as conn:
            rows = conn.execute(stmt).all()
            if not rows and conn.execute(select(secrets.c.id).where(secrets.c.id == secret_id)).first() is None:
                raise NotFound(f"secret {secret_id!r} not found")
        return [version_from_row(row, value=None) for row in rows]

    def get_secret_version(self, secret_id: str, version: int) -> SecretVersion:
        """One version with its value unsealed (None once destroyed), or NotFound."""
        stmt = select(secret_versions).where(
            secret_versions.c.secret_id == secret_id, secret_versions.c.version == version
        )
        with self._transaction() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise NotFound(f"secret {secret_id!r} has no version {version}")
        return version_from_row(row, value=records.open_version(self._sealer, secret_id, version, row.sealed_value))

    def expire_secret_versions(self, now: datetime) -> list[SecretEvent]:
        """PREVIOUS versions whose grace ended by ``now`` become EXPIRED; one GRACE_EXPIRED event each."""
        versions = secret_versions
        # core.secrets.grace_ended, in the database: one UPDATE picks and changes them atomically.
        stmt = (
            update(versions)
            .where(versions.c.state == VersionState.PREVIOUS.value, versions.c.grace_expire_time <= now)
            .values(state=VersionState.EXPIRED.value, expire_time=versions.c.grace_expire_time)
            .returning(versions.c.secret_id, versions.c.version)
        )
        with self._transaction() as conn:
            expired = sorted((row.secret_id, row.version) for row in conn.execute(stmt))
            if not expired:
                return []
            owners = select(secrets.c.id, secrets.c.current_version).where(secrets.c.id.in_({s for s, _ in expired}))
            current = {row.id: row.current_version for row in conn.execute(owners)}
            return record_events(
                conn, [(sid, EventType.GRACE_EXPIRED, version, current[sid], now) for sid, version in expired]
            )

    def destroy_expired_material(self, now: datetime) -> int:
        """Erase the sealed value of EXPIRED versions once their secret's retention has passed."""
        versions = secret_versions
        candidates = (
            select(*(c for c in versions.c if c is not versions.c.sealed_value), secrets.c.retention_seconds)
            .join(secrets, secrets.c.id == versions.c.secret_id)
            .where(versions.c.state == VersionState.EXPIRED.value, versions.c.destroyed.is_(False))
        )
        with self._transaction(reads_then_writes=True) as conn:
            due = [
                (row.secret_id, row.version)
                for row in conn.execute(candidates)
                if material_due(version_from_row(row, value=None), timedelta(seconds=row.retention_seconds), now)
            ]
            if due:
                conn.execute(
                    update(versions)
                    .where(tuple_(versions.c.secret_id, versions.c.version).in_(due))
                    .values(destroyed=True, sealed_value=None)
                )
        return len(due)

    def due_secrets(self, now: datetime, limit: int) -> list[Secret]:
        """Secrets whose next rotation time is at or before ``now``, most overdue first."""
        stmt = (
            select(secrets)
            .where(secrets.c.next_rotation_time <= now)
            .order_by(secrets.c.next_rotation_time, secrets.c.id)
            .limit(limit)
        )
        with self._transaction() as conn:
            return [secret_from_row(row) for row in conn.execute(stmt)]

    def list_secret_events(self, *, after_seq: int, limit: int) -> list[SecretEvent]:
        """Events with seq > ``after_seq`` in seq order."""
        stmt = select(secret_events).where(secret_events.c.seq > after_seq).order_by(secret_events.c.seq).limit(limit)
        with self._transaction() as conn:
            return [event_from_record(row._mapping) for row in conn.execute(stmt)]

    def last_secret_event_seq(self) -> int:
        """The highest event seq handed out so far (0 when none)."""
        stmt = select(counters.c.value).where(counters.c.name == EVENT_COUNTER)
        with self._transaction() as conn:
            return int(conn.execute(stmt).scalar_one())

    def list_secret_events_of(self, secret_id: str, *, after: int, limit: int) -> list[SecretEvent]:
        """Events of ``secret_id`` with secret_seq > ``after``, in order."""
        events = secret_events
        stmt = (
            select(events)
            .where(events.c.secret_id == secret_id, events.c.secret_seq > after)
            .order_by(events.c.secret_seq)
            .limit(limit)
        )
        with self._transaction() as conn:
            return [event_from_record(row._mapping) for row in conn.execute(stmt)]

    def last_secret_event_of(self, secret_id: str) -> int:
        """The secret_seq of the newest event of ``secret_id`` (0 when none)."""
        stmt = select(func.max(secret_events.c.secret_seq)).where(secret_events.c.secret_id == secret_id)
        with self._transaction() as conn:
            return int(conn.execute(stmt).scalar_one_or_none() or 0)

    # leader lease -----------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> int | None:
        """Take or renew the lease in one statement; the fencing token grows when the holder changes."""
        upsert = self._insert(leases).values(name=name, holder=holder, expires_at=now + ttl, token=1)
        same_holder = leases.c.holder == upsert.excluded.holder
        stmt = upsert.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "holder": upsert.excluded.holder,
                "expires_at": upsert.excluded.expires_at,
                "token": case((same_holder, leases.c.token), else_=leases.c.token + 1),
            },
            where=or_(same_holder, leases.c.expires_at <= now),
        ).returning(leases.c.token)
        with self._transaction() as conn:
            token = conn.execute(stmt).scalar_one_or_none()
        return None if token is None else int(token)

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` holds it (the row stays, so the next token is higher)."""
        stmt = (
            update(leases)
            .where(leases.c.name == name, leases.c.holder == holder)
            .values(holder="", expires_at=RELEASED)
        )
        with self._transaction() as conn:
            conn.execute(stmt)

    # audit (audit.py) -------------------------------------------------------
    def append_audit_events(self, drafts: Sequence[AuditEvent]) -> list[AuditEvent]:
        """Chain ``drafts`` onto the locked head and insert them, in one transaction."""
        if not drafts:
            return []
        with self._transaction(reads_then_writes=True) as conn:
            return audit.append(self._insert, conn, drafts)

    def audit_chain_head(self) -> ChainHead:
        """The seq and hash of the newest event (0, '' when there is none)."""
        with self._transaction() as conn:
            return audit.head(conn)

    def read_audit_chain(self, *, after: int, limit: int) -> list[AuditEvent]:
        """Up to ``limit`` events with seq > ``after``, in seq order."""
        with self._transaction() as conn:
            return audit.rows_to_events(conn, audit.chain_after(after, limit))

    def list_audit_events(self, *, before: str, limit: int, flt: AuditFilter) -> list[AuditEvent]:
        """Up to ``limit`` events with id < ``before`` ('' = newest) matching ``flt``, newest first."""
        with self._transaction() as conn:
            return audit.rows_to_events(conn, audit.listing(before, limit, flt))

    def purge_audit_events(self, before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` of the oldest events older than ``before``, never the chain's head."""
        with self._transaction() as conn:
            return int(conn.execute(audit.oldest(before, limit)).rowcount)

    # plumbing ---------------------------------------------------------------
    @contextmanager
    def _transaction(self, *, reads_then_writes: bool = False) -> Iterator[Connection]:
        """One transaction on a pooled connection, driver failures translated.

        ``reads_then_writes``: on SQLite take the write lock up front (BEGIN IMMEDIATE);
        a transaction that reads before it writes could otherwise fail at its first
        write when another writer committed in between (SQLITE_BUSY_SNAPSHOT).
        """
        with translate_errors(self._url), self._engine.connect() as conn:
            if reads_then_writes:
                conn.execution_options(**{BEGIN_IMMEDIATE: True})
            with conn.begin():
                yield conn

    def _insert_new(self, conn: Connection, table: Table, values: Mapping[str, Any]) -> bool:
        """INSERT unless the primary key is taken; True if the row went in."""
        stmt = (
            self._insert(table)
            .values(values)
            .on_conflict_do_nothing(index_elements=list(table.primary_key))
            .returning(*table.primary_key)
        )
        return conn.execute(stmt).first() is not None

    def _version_values(self, version: SecretVersion, state: VersionState) -> dict[str, Any]:
        """A secret_versions row in ``state``, the value sealed to (secret id, version)."""
        return {
            "secret_id": version.secret_id,
            **records.version_fields(version, state, DATETIME),
            "sealed_value": records.seal_version(self._sealer, version),
        }

    def _insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """An INSERT that knows ON CONFLICT, in this backend's dialect."""
        return sqlite.insert(table) if self._dialect == "sqlite" else postgresql.insert(table)
