"""Behaviour of the SQL store beyond the Store contract: URLs, SQLite setup, lost connections."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.exc import StatementError

from broker.core.errors import InvalidArgument
from broker.core.identities import Identity, IdentityFilter, IdentityKind
from broker.store.base import Store
from broker.store.sealing import Sealer
from broker.store.sql import SqlStore

from .conftest import TEST_KEK, sqlite_url
from .postgres import PostgresServer


def test_sql_store_has_every_method_of_the_store_protocol() -> None:
    """A method added to the Store protocol fails here until the SQL store implements it."""
    wanted = {name for name in vars(Store) if not name.startswith("_")}
    assert wanted - set(dir(SqlStore)) == set()


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "mysql+pymysql://u@localhost/broker"],
    ids=["sqlite-memory", "sqlite-memory-explicit", "mysql"],
)
def test_unsupported_urls_are_refused_up_front(url: str) -> None:
    """In-memory SQLite (not shared across threads) and other databases are configuration errors."""
    with pytest.raises(ValueError, match="store URL"):
        SqlStore(url, Sealer(TEST_KEK))


def test_sqlite_file_is_created_in_wal_mode_in_a_private_directory(tmp_path: Path) -> None:
    """The data directory is created owner-only and the database file is switched to WAL."""
    path = tmp_path / "data" / "broker.db"
    store = SqlStore(sqlite_url(path), Sealer(TEST_KEK))
    try:
        store.migrate()
    finally:
        store.close()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_fractional_token_ttl_is_refused_not_rounded(tmp_path: Path) -> None:
    """The TTL column holds whole seconds; anything finer is an InvalidArgument."""
    store = SqlStore(sqlite_url(tmp_path / "broker.db"), Sealer(TEST_KEK))
    try:
        store.migrate()
        with pytest.raises(InvalidArgument, match="max_token_ttl"):
            store.create_identity(Identity(id="a", kind=IdentityKind.AI_AGENT, max_token_ttl=timedelta(seconds=1.5)))
    finally:
        store.close()


def test_naive_datetimes_are_refused(tmp_path: Path) -> None:
    """A datetime without a zone is a programming error, never silently taken as local time."""
    store = SqlStore(sqlite_url(tmp_path / "broker.db"), Sealer(TEST_KEK))
    try:
        store.migrate()
        naive = datetime(2030, 1, 1)  # naive on purpose
        with pytest.raises(StatementError, match="naive datetime"):
            store.revoke_token("jti", naive)
        with pytest.raises(ValueError, match="naive datetime"):  # the replay writer's own connection
            store.consume_jti("k", naive, naive)
    finally:
        store.close()


def test_a_postgres_url_without_driver_uses_psycopg(postgres_server: PostgresServer) -> None:
    """postgresql://... works as is (psycopg 3 is the only driver installed)."""
    url = postgres_server.create_database().replace("postgresql+psycopg://", "postgresql://")
    store = SqlStore(url, Sealer(TEST_KEK))
    try:
        store.ping()
        assert repr(store).startswith("SqlStore('postgresql+psycopg://")
    finally:
        store.close()


def test_a_connection_killed_by_postgres_is_replaced_before_the_next_call(postgres_server: PostgresServer) -> None:
    """A server-side disconnect (a restart) costs no call an error: the pool pings and replaces the dead
    connection at checkout."""
    url = postgres_server.create_database()
    database = url.rsplit("/", 1)[1]
    store = SqlStore(url, Sealer(TEST_KEK))
    try:
        store.migrate()
        store.ping()
        with psycopg.connect(f"host=127.0.0.1 port={postgres_server.port} user=postgres dbname=postgres") as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
        store.ping()
        assert store.list_identities(after="", limit=1, flt=IdentityFilter()) == []
    finally:
        store.close()


def test_the_replay_connection_killed_by_postgres_is_replaced_and_the_batch_written(
    postgres_server: PostgresServer,
) -> None:
    """Single-use records have their own connection (sql/replay.py); when it died, the batch runs once more
    on a fresh one, and every key is still recorded exactly once."""
    url = postgres_server.create_database()
    database = url.rsplit("/", 1)[1]
    store = SqlStore(url, Sealer(TEST_KEK))
    now = datetime(2030, 1, 1, tzinfo=UTC)
    later = now + timedelta(minutes=5)
    try:
        store.migrate()
        assert store.consume_jtis([("a", later)], now) == [True]
        with psycopg.connect(f"host=127.0.0.1 port={postgres_server.port} user=postgres dbname=postgres") as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
        assert store.consume_jtis([("b", later)], now) == [True]
        assert store.consume_jtis([("b", later), ("a", later)], now) == [False, False]
    finally:
        store.close()


_RACER = """
import sys
from datetime import UTC, datetime, timedelta
from broker.store.sealing import Sealer
from broker.store.sql import SqlStore
store = SqlStore(sys.argv[1], Sealer(bytes(range(32))))
now = datetime(2030, 1, 1, tzinfo=UTC)
won = 0
for n in range(0, 200, 4):
    won += sum(store.consume_jtis([(f"k{n + i}", now + timedelta(minutes=5)) for i in range(4)], now))
store.close()
print(won)
"""


def test_processes_on_one_sqlite_file_record_each_key_once(tmp_path: Path) -> None:
    """Three processes (as BROKER_WORKERS has) race on the same 200 keys: 200 acceptances in all."""
    url = sqlite_url(tmp_path / "broker.db")
    store = SqlStore(url, Sealer(TEST_KEK))
    store.migrate()
    store.close()
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, url], stdout=subprocess.PIPE) for _ in range(3)]
    wins = [int(racer.communicate(timeout=60)[0]) for racer in racers]
    assert sum(wins) == 200
    assert stat.S_IMODE((tmp_path / "broker.db.replay-lock").stat().st_mode) == 0o600


def test_shared_rate_buckets_spend_a_burst_refill_and_are_purged_when_full(sql_url: str) -> None:
    """2 per second: two takes, the third waits 0.5 s; half a second later one more; a bucket
    full again is purged with the expired records; two stores on one database share it."""
    first, second = SqlStore(sql_url, Sealer(TEST_KEK)), SqlStore(sql_url, Sealer(TEST_KEK))
    try:
        first.migrate()
        now = 1_900_000_000.0
        assert first.take_rate_token("k", burst=2, per_second=2.0, now=now) == 0.0
        assert second.take_rate_token("k", burst=2, per_second=2.0, now=now) == 0.0
        assert first.take_rate_token("k", burst=2, per_second=2.0, now=now) == pytest.approx(0.5)
        assert second.take_rate_token("other", burst=2, per_second=2.0, now=now) == 0.0
        assert second.take_rate_token("k", burst=2, per_second=2.0, now=now + 0.5) == 0.0
        assert first.take_rate_token("k", burst=2, per_second=2.0, now=now + 0.5) > 0
        assert first.purge_expired(datetime.fromtimestamp(now + 60, UTC)) == 2
        assert first.take_rate_token("k", burst=2, per_second=2.0, now=now + 60) == 0.0
    finally:
        first.close()
        second.close()
