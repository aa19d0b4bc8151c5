"""Fixtures of the store conformance suite.

``backend`` (and its ``store``) is parametrized over ``BACKENDS``. Adding a backend (Vault)
is one entry there: a factory that yields a ``Backend`` for one test and cleans up after.
PostgreSQL runs for real (``postgres.py``), one server per session, one new database per
test, left in place (dropping cost ~0.2 s per test here; the server's data directory
is deleted at the end of the session anyway).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import create_engine, inspect, select, table, text
from sqlalchemy.pool import NullPool

from broker.core.sensitive import Sensitive
from broker.store.base import Store
from broker.store.sealing import Sealer
from broker.store.sql import SqlStore
from broker.store.vault import VaultAuth, VaultStore

from .openbao import OpenBaoServer
from .openbao import start_for_pytest as start_openbao_for_pytest
from .postgres import PostgresServer, free_port, start_for_pytest

#: A fixed test KEK, so that a reopened store reads what the first one wrote.
TEST_KEK = bytes(range(32))
#: The password put into URLs of unreachable servers; it must never show up in errors.
UNREACHABLE_PASSWORD = "s3cret-pw-never-shown"
T = TypeVar("T")


@dataclass(frozen=True)
class Backend:
    """A store under test plus the backend-specific hooks the contract suite needs."""

    store: Store
    #: Another store on the same data, opened with the given sealer.
    reopen: Callable[[Sealer], Store]
    #: Every byte the backend holds at rest (for "no plaintext secret" checks).
    raw_dump: Callable[[], bytes]
    #: A store of this kind whose backend cannot be reached.
    unreachable: Callable[[], Store]


BackendFactory = Callable[[pytest.FixtureRequest], AbstractContextManager[Backend]]


@contextmanager
def _sql_backend(url: str, *, raw_dump: Callable[[], bytes], unreachable_url: str) -> Iterator[Backend]:
    with ExitStack() as stores:

        def open_store(store_url: str, sealer: Sealer) -> SqlStore:
            store = SqlStore(store_url, sealer)
            stores.callback(store.close)
            return store

        store = open_store(url, Sealer(TEST_KEK))
        store.migrate()
        yield Backend(
            store=store,
            reopen=lambda sealer: open_store(url, sealer),
            raw_dump=raw_dump,
            unreachable=lambda: open_store(unreachable_url, Sealer(TEST_KEK)),
        )


@contextmanager
def sqlite_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """SQLite on a temporary file; at rest = the database file and its WAL."""
    tmp: Path = request.getfixturevalue("tmp_path")
    path = tmp / "broker.db"

    def raw_dump() -> bytes:
        return b"".join(p.read_bytes() for p in tmp.glob("broker.db*"))

    # A directory is not a database file: opening it fails like an unreachable server.
    with _sql_backend(sqlite_url(path), raw_dump=raw_dump, unreachable_url=sqlite_url(tmp)) as backend:
        yield backend


@contextmanager
def postgres_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """A fresh database on the session's PostgreSQL server; at rest = every table's rows."""
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    unreachable = f"postgresql+psycopg://broker:{UNREACHABLE_PASSWORD}@127.0.0.1:{free_port()}/broker"
    with _sql_backend(url, raw_dump=lambda: dump_tables(url), unreachable_url=unreachable) as backend:
        yield backend


@contextmanager
def openbao_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """A fresh prefix on the session's OpenBao dev server; at rest = every stored version under it."""
    server: OpenBaoServer = request.getfixturevalue("openbao_server")
    prefix = server.fresh_prefix()
    root = VaultAuth(token=Sensitive(server.root_token.encode()))
    with ExitStack() as stores:

        def open_store(url: str, sealer: Sealer, auth: VaultAuth = root) -> VaultStore:
            store = VaultStore(url, sealer, auth)
            stores.callback(store.close)
            return store

        store = open_store(server.url(prefix), Sealer(TEST_KEK))
        store.migrate()
        unreachable = f"vault://127.0.0.1:{free_port()}/secret/broker"
        yield Backend(
            store=store,
            reopen=lambda sealer: open_store(server.url(prefix), sealer),
            raw_dump=lambda: server.dump(prefix),
            unreachable=lambda: open_store(
                unreachable, Sealer(TEST_KEK), VaultAuth(token=Sensitive(UNREACHABLE_PASSWORD.encode()))
            ),
        )


BACKENDS: dict[str, BackendFactory] = {
    "sqlite": sqlite_backend,
    "postgres": postgres_backend,
    "openbao": openbao_backend,
}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (fails the tests if it cannot start)."""
    server = start_for_pytest()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def openbao_server() -> Iterator[OpenBaoServer]:
    """The session's OpenBao dev server (fails the tests if it cannot start)."""
    server = start_openbao_for_pytest()
    yield server
    server.stop()


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """A migrated, empty store of each backend, with its test hooks."""
    with BACKENDS[request.param](request) as value:
        yield value


@pytest.fixture
def store(backend: Backend) -> Store:
    """A migrated, empty store of each backend."""
    return backend.store


@pytest.fixture(params=["sqlite", "postgres"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty SQL database (no schema) on each SQL backend."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "broker.db")
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    yield server.create_database()


def race(n: int, fn: Callable[[int], T]) -> list[T]:
    """Run ``fn(0..n-1)`` on ``n`` threads released at the same instant."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


def dump_tables(url: str) -> bytes:
    """The repr of every row of every table of a SQL database."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            rows = [conn.execute(select(text("*")).select_from(table(name))).all() for name in names]
            return repr(rows).encode()
    finally:
        engine.dispose()
