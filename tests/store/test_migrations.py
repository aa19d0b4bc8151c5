"""Alembic migrations on SQLite and PostgreSQL: upgrade, idempotence, refusal, data kept."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from broker.core.audit import chain_hash
from broker.core.errors import FailedPrecondition
from broker.core.identities import Binding, Identity, IdentityFilter, IdentityKind
from broker.store.migrations import ADVISORY_LOCK_KEY, alembic_config, head_revision
from broker.store.sealing import Sealer
from broker.store.sql import SqlStore
from broker.store.sql.schema import metadata

from .conftest import TEST_KEK

FIRST_REVISION = "0001"
WHEN = datetime(2030, 1, 1, tzinfo=UTC)

#: The identities table as revision 0001 created it, for rows written "by an old broker"
#: (typed where the driver needs it; JSON columns take their text as is).
IDENTITIES_AT_0001 = sa.table(
    "identities",
    *map(sa.column, ["id", "kind", "tenant", "display_name", "max_token_ttl_seconds", "revision"]),
    *map(sa.column, ["allowed_scopes", "allowed_audiences", "bindings", "public_keys", "delegable_scopes"]),
    sa.column("disabled", sa.Boolean),
    sa.column("create_time", sa.DateTime(timezone=True)),
    sa.column("update_time", sa.DateTime(timezone=True)),
)


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    """A plain connection (not the store's engine) in a transaction."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


@contextmanager
def open_store(url: str) -> Iterator[SqlStore]:
    """A SqlStore on ``url``, closed afterwards."""
    store = SqlStore(url, Sealer(TEST_KEK))
    try:
        yield store
    finally:
        store.close()


def revision_of(url: str) -> str | None:
    """The alembic revision the database is stamped with."""
    with connect(url) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_a_fresh_database_upgrades_to_head(sql_url: str) -> None:
    """migrate() on an empty database creates the schema and stamps the head revision."""
    with open_store(sql_url) as store:
        store.migrate()
        assert store.list_identities(after="", limit=10, flt=IdentityFilter()) == []
    assert revision_of(sql_url) == head_revision()


def test_migrations_build_exactly_the_table_definitions(sql_url: str) -> None:
    """The migrated schema and sql/schema.py's Table objects do not differ (no missing migration)."""
    with open_store(sql_url) as store:
        store.migrate()
    with connect(sql_url) as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_migrate_twice_is_a_no_op(sql_url: str) -> None:
    """A second migrate() (every later start) changes nothing and keeps the data."""
    with open_store(sql_url) as store:
        store.migrate()
        created = store.create_identity(Identity(id="kept", kind=IdentityKind.AI_AGENT))
        store.migrate()
        assert store.get_identity("kept") == created
    assert revision_of(sql_url) == head_revision()


@contextmanager
def migration_lock_held(url: str) -> Iterator[None]:
    """Hold the lock a migrating replica holds (Postgres advisory lock / SQLite write lock)."""
    if url.startswith("sqlite"):
        raw = sqlite3.connect(str(sa.make_url(url).database), isolation_level=None)
        try:
            raw.execute("PRAGMA journal_mode=WAL")
            raw.execute("BEGIN IMMEDIATE")
            yield
            raw.execute("ROLLBACK")
        finally:
            raw.close()
        return
    with connect(url) as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        yield


def test_migrate_waits_while_another_replica_migrates(sql_url: str) -> None:
    """migrate() blocks on the migration lock held by another replica, then completes."""
    errors: list[BaseException] = []

    def migrate(store: SqlStore) -> None:
        try:
            store.migrate()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    with open_store(sql_url) as store:
        waiting = threading.Thread(target=migrate, args=(store,))
        with migration_lock_held(sql_url):
            waiting.start()
            waiting.join(0.5)
            assert waiting.is_alive()
        waiting.join(10)
    assert not waiting.is_alive()
    assert errors == []
    assert revision_of(sql_url) == head_revision()


def test_a_database_at_an_unknown_newer_revision_is_refused(sql_url: str) -> None:
    """A schema migrated by a newer broker makes migrate() fail clearly and touch nothing."""
    with open_store(sql_url) as store:
        store.migrate()
    with connect(sql_url) as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    with open_store(sql_url) as store, pytest.raises(FailedPrecondition) as caught:
        store.migrate()
    assert caught.value.message == (
        f"database schema revision 9999_future is newer than this broker knows (head {head_revision()}); "
        "upgrade the broker"
    )
    assert revision_of(sql_url) == "9999_future"


def test_rows_written_at_the_first_revision_survive_the_upgrade_to_head(sql_url: str) -> None:
    """Data written under revision 0001 reads back through the store after migrating to head."""
    with connect(sql_url) as conn:
        command.upgrade(alembic_config(conn), FIRST_REVISION)
    with connect(sql_url) as conn:
        conn.execute(
            sa.insert(IDENTITIES_AT_0001).values(
                id="legacy",
                kind="service_account",
                tenant="acme",
                display_name="Legacy",
                disabled=False,
                max_token_ttl_seconds=600,
                allowed_scopes='["a.read"]',
                allowed_audiences="[]",
                bindings='[{"issuer":"https://ci.example","required_claims":{"ref":"main"},"subject":"repo"}]',
                public_keys="[]",
                delegable_scopes="[]",
                create_time=WHEN,
                update_time=WHEN,
                revision=3,
            )
        )
    with open_store(sql_url) as store:
        store.migrate()
        assert store.get_identity("legacy") == Identity(
            id="legacy",
            kind=IdentityKind.SERVICE_ACCOUNT,
            tenant="acme",
            display_name="Legacy",
            allowed_scopes=("a.read",),
            max_token_ttl=timedelta(minutes=10),
            bindings=(Binding(issuer="https://ci.example", subject="repo", required_claims={"ref": "main"}),),
            create_time=WHEN,
            update_time=WHEN,
            etag="3",
        )


def test_audit_events_written_before_the_chain_come_out_chained_in_id_order(sql_url: str) -> None:
    """Revision 0004 numbers and links the events already there with the broker's own hash."""
    with connect(sql_url) as conn:
        command.upgrade(alembic_config(conn), "0003")
    events = sa.table(
        "audit_events",
        *map(sa.column, ["id", "action", "actor", "target", "outcome", "request_id", "details"]),
        sa.column("event_time", sa.DateTime(timezone=True)),
    )
    with connect(sql_url) as conn:
        for n in (2, 1):
            row = {"id": f"{n:026x}", "action": "identity.create", "actor": "admin", "target": f"t{n}"}
            conn.execute(
                sa.insert(events).values(**row, outcome="success", request_id="", details="{}", event_time=WHEN)
            )
    with open_store(sql_url) as store:
        store.migrate()
        chain = store.read_audit_chain(after=0, limit=10)
    assert [(e.seq, e.target, e.subject) for e in chain] == [(1, "t1", "admin"), (2, "t2", "admin")]
    assert [e.hash for e in chain] == [chain_hash(e) for e in chain]
    assert chain[1].prev_hash == chain[0].hash


def test_downgrade_to_base_removes_every_table(sql_url: str) -> None:
    """The migrations reverse cleanly: only alembic's own table is left."""
    with open_store(sql_url) as store:
        store.migrate()
    with connect(sql_url) as conn:
        command.downgrade(alembic_config(conn), "base")
    with connect(sql_url) as conn:
        assert sa.inspect(conn).get_table_names() == ["alembic_version"]
