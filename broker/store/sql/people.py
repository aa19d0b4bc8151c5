"""People, their logins and failed-login counts on SQL: the ``SqlPeople`` part of SqlStore
(with the rewrite of audit events that erasing a person needs).

Compare-and-set as everywhere in the SQL store: a person's and a failure count's
``revision``. A refresh token is used once because marking it used is one
``UPDATE ... WHERE used = false``: of two racing refreshes exactly one matches, and only
that one adds the family's next token, in the same transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Connection, Row

from ...core.audit import AuditEvent
from ...core.errors import AlreadyExists, Conflict, NotFound
from ...core.people import Person, PersonFilter
from ...core.sensitive import Sensitive
from ...core.sessions import RefreshFamily
from ...core.throttle import LoginFailures
from ..people_records import (
    failures_fields,
    failures_from_record,
    family_fields,
    family_from_record,
    person_fields,
    person_from_record,
)
from ..records import DATETIME
from ..sealing import Sealer, totp_context
from .rows import equal_to, etag_revision, missing_or_changed
from .schema import audit_events, login_failures, people, refresh_families, refresh_tokens

__all__ = ["SqlPeople"]


class _Host(Protocol):
    """What SqlPeople uses of the SqlStore it is part of."""

    @property
    def _sealer(self) -> Sealer: ...

    def _transaction(self, *, reads_then_writes: bool = False) -> AbstractContextManager[Connection]: ...

    def _insert_new(self, conn: Connection, table: Table, values: Mapping[str, Any]) -> bool: ...


class SqlPeople:
    """PersonStore, SessionStore and LoginFailureStore on the SQL store's tables."""

    # people ----------------------------------------------------------------------------
    def create_person(self: _Host, person: Person) -> Person:
        """Insert; AlreadyExists if the user name is taken."""
        values = {"username": person.username, **_person_values(self._sealer, person), "revision": 1}
        with self._transaction() as conn:
            if not self._insert_new(conn, people, values):
                raise AlreadyExists(f"user {person.username!r} already exists")
        return dataclasses.replace(person, etag="1")

    def get_person(self: _Host, username: str) -> Person:
        """The person, or NotFound."""
        with self._transaction() as conn:
            row = conn.execute(select(people).where(people.c.username == username)).first()
        if row is None:
            raise NotFound(f"user {username!r} not found")
        return _person_from_row(self._sealer, row)

    def list_people(self: _Host, *, after: str, limit: int, flt: PersonFilter) -> list[Person]:
        """Up to ``limit`` people with username > ``after`` matching ``flt``, ordered by username."""
        stmt = (
            select(people)
            .where(people.c.username > after, *equal_to(people, flt))
            .order_by(people.c.username)
            .limit(limit)
        )
        with self._transaction() as conn:
            return [_person_from_row(self._sealer, r) for r in conn.execute(stmt)]

    def update_person(self: _Host, person: Person, *, expected_etag: str) -> Person:
        """Replace at ``expected_etag`` (NotFound if gone, Conflict if changed)."""
        revision = etag_revision(expected_etag)
        stmt = (
            update(people)
            .where(people.c.username == person.username, people.c.revision == revision)
            .values(**_person_values(self._sealer, person), revision=revision + 1)
        )
        with self._transaction() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise missing_or_changed(conn, people.c.username, person.username, "user")
        return dataclasses.replace(person, etag=str(revision + 1))

    def delete_person(self: _Host, username: str, *, expected_etag: str | None) -> None:
        """Delete (NotFound if absent, Conflict on a stale etag)."""
        stmt = delete(people).where(people.c.username == username)
        if expected_etag is not None:
            stmt = stmt.where(people.c.revision == etag_revision(expected_etag))
        with self._transaction() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise missing_or_changed(conn, people.c.username, username, "user")

    # refresh families ------------------------------------------------------------------
    def create_family(self: _Host, family: RefreshFamily, token_hash: str) -> None:
        """Store a new family with its first token's hash."""
        with self._transaction() as conn:
            conn.execute(insert(refresh_families).values(id=family.id, **family_fields(family, DATETIME)))
            conn.execute(insert(refresh_tokens).values(hash=token_hash, family_id=family.id, used=False))

    def find_refresh_token(self: _Host, token_hash: str) -> tuple[RefreshFamily, bool] | None:
        """The family of the token with this hash, and whether the token was used."""
        stmt = (
            select(refresh_families, refresh_tokens.c.used)
            .join(refresh_tokens, refresh_tokens.c.family_id == refresh_families.c.id)
            .where(refresh_tokens.c.hash == token_hash)
        )
        with self._transaction() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else (family_from_record(row._mapping, DATETIME), bool(row.used))

    def rotate_refresh_token(self: _Host, token_hash: str, new_hash: str, now: datetime) -> bool:
        """Use the token once and add its successor, in one transaction; False if it was used."""
        mark = (
            update(refresh_tokens)
            .where(refresh_tokens.c.hash == token_hash, refresh_tokens.c.used.is_(False))
            .values(used=True)
            .returning(refresh_tokens.c.family_id)
        )
        with self._transaction() as conn:
            row = conn.execute(mark).first()
            if row is None:
                return False
            conn.execute(insert(refresh_tokens).values(hash=new_hash, family_id=row.family_id, used=False))
            conn.execute(
                update(refresh_families).where(refresh_families.c.id == row.family_id).values(last_used_time=now)
            )
        return True

    def get_family(self: _Host, family_id: str) -> RefreshFamily | None:
        """The family, or None."""
        with self._transaction() as conn:
            row = conn.execute(select(refresh_families).where(refresh_families.c.id == family_id)).first()
        return None if row is None else family_from_record(row._mapping, DATETIME)

    def end_family(self: _Host, family_id: str, now: datetime, reason: str) -> bool:
        """End a live family; False if it was ended already or is unknown."""
        stmt = (
            update(refresh_families)
            .where(refresh_families.c.id == family_id, refresh_families.c.end_time.is_(None))
            .values(end_time=now, end_reason=reason)
        )
        with self._transaction() as conn:
            return bool(conn.execute(stmt).rowcount)

    def end_families_of(self: _Host, username: str, now: datetime, reason: str) -> int:
        """End every live family of ``username``."""
        stmt = (
            update(refresh_families)
            .where(refresh_families.c.username == username, refresh_families.c.end_time.is_(None))
            .values(end_time=now, end_reason=reason)
        )
        with self._transaction() as conn:
            return int(conn.execute(stmt).rowcount)

    def list_families_of(self: _Host, username: str) -> list[RefreshFamily]:
        """Every family of ``username``, oldest first."""
        stmt = (
            select(refresh_families)
            .where(refresh_families.c.username == username)
            .order_by(refresh_families.c.create_time, refresh_families.c.id)
        )
        with self._transaction() as conn:
            return [family_from_record(row._mapping, DATETIME) for row in conn.execute(stmt)]

    def delete_families_of(self: _Host, username: str) -> int:
        """Erase every family of ``username`` (their refresh tokens go with them: ON DELETE CASCADE)."""
        with self._transaction() as conn:
            return int(conn.execute(delete(refresh_families).where(refresh_families.c.username == username)).rowcount)

    def purge_families(self: _Host, before: datetime, *, limit: int) -> int:
        """Erase up to ``limit`` families ended for good by ``before`` (tokens: ON DELETE CASCADE)."""
        ids = select(refresh_families.c.id).where(refresh_families.c.expire_time <= before).limit(limit)
        with self._transaction() as conn:
            return int(conn.execute(delete(refresh_families).where(refresh_families.c.id.in_(ids))).rowcount)

    def replace_audit_event(self: _Host, event: AuditEvent) -> None:
        """Rewrite the names and details of the event at its seq (a person's erasure)."""
        stmt = (
            update(audit_events)
            .where(audit_events.c.seq == event.seq)
            .values(actor=event.actor, subject=event.subject, target=event.target, details=dict(event.details))
        )
        with self._transaction() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise NotFound(f"audit event {event.seq} not found")

    # failed-login counts ---------------------------------------------------------------
    def get_login_failures(self: _Host, key: str) -> LoginFailures | None:
        """The count of ``key``, or None."""
        with self._transaction() as conn:
            row = conn.execute(select(login_failures).where(login_failures.c.key == key)).first()
        return None if row is None else failures_from_record(row._mapping, DATETIME, etag=str(row.revision))

    def put_login_failures(self: _Host, failures: LoginFailures, *, expected_etag: str) -> LoginFailures:
        """Write at ``expected_etag`` ('' = create); Conflict if someone else wrote first."""
        fields = failures_fields(failures, DATETIME)
        with self._transaction() as conn:
            if not expected_etag:
                if not self._insert_new(conn, login_failures, {"key": failures.key, **fields, "revision": 1}):
                    raise Conflict("failed-login count changed concurrently")
                return dataclasses.replace(failures, etag="1")
            revision = etag_revision(expected_etag)
            stmt = (
                update(login_failures)
                .where(login_failures.c.key == failures.key, login_failures.c.revision == revision)
                .values(**fields, revision=revision + 1)
            )
            if conn.execute(stmt).rowcount == 0:
                raise Conflict("failed-login count changed concurrently")
        return dataclasses.replace(failures, etag=str(revision + 1))

    def purge_login_failures(self: _Host, first_before: datetime, *, limit: int) -> int:
        """Remove up to ``limit`` unlocked counts whose window opened before ``first_before``."""
        old = login_failures.c.locked.is_(False) & (login_failures.c.first_time < first_before)
        keys = select(login_failures.c.key).where(old).limit(limit)
        with self._transaction() as conn:
            return int(conn.execute(delete(login_failures).where(login_failures.c.key.in_(keys))).rowcount)

    def clear_login_failures(self: _Host, key: str) -> bool:
        """Remove the count of ``key``; True if there was one."""
        with self._transaction() as conn:
            return bool(conn.execute(delete(login_failures).where(login_failures.c.key == key)).rowcount)


def _person_values(sealer: Sealer, person: Person) -> dict[str, Any]:
    """A people row but its key and revision: the TOTP seed sealed to the person."""
    seed = person.mfa.seed
    sealed = sealer.seal(seed.reveal(), totp_context(person.username)) if seed is not None else None
    return {**person_fields(person, DATETIME), "sealed_totp_seed": sealed}


def _person_from_row(sealer: Sealer, row: Row[Any]) -> Person:
    sealed = row.sealed_totp_seed
    seed = Sensitive(sealer.open(sealed, totp_context(row.username))) if sealed is not None else None
    return person_from_record(row._mapping, DATETIME, etag=str(row.revision), seed=seed)
