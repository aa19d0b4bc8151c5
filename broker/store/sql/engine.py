"""Engines of the SQL store: how SQLite and Postgres connections are opened and set up.

SQLite: one file (refused in memory), created 0600 and narrowed to 0600 if others can
read it, in WAL mode, with a busy timeout; the driver issues no BEGIN of its own, so
``_sqlite_on_begin`` opens every transaction, ``BEGIN IMMEDIATE`` when a connection
carries the migrations' ``BEGIN_IMMEDIATE`` option. Postgres: psycopg 3, a connect
timeout, and ``pool_pre_ping`` so a connection dropped by a server restart is replaced
at checkout rather than failing its first caller.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from ..migrations import BEGIN_IMMEDIATE

__all__ = ["engine_url", "open_engine"]

_log = structlog.get_logger("broker.store")

_SQLITE_BUSY_TIMEOUT_SECONDS = 5
_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_SECONDS * 1000}",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)
_POSTGRES_CONNECT_TIMEOUT_SECONDS = 5


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL of a store URL; a bare ``postgresql://`` gets psycopg 3's driver."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg") if parsed.drivername == "postgresql" else parsed


def open_engine(url: URL, *, echo: bool = False) -> Engine:
    """A pooled engine for a SQLite file or a Postgres server; ValueError for any other URL."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, echo=echo)
    if backend == "postgresql":
        connect_args: dict[str, Any] = {"application_name": "identity-broker"}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = _POSTGRES_CONNECT_TIMEOUT_SECONDS
        # pool_pre_ping: a connection the server dropped (a restart) is replaced at checkout, not
        # handed to the first caller after the restart as an error.
        return create_engine(url, echo=echo, hide_parameters=True, connect_args=connect_args, pool_pre_ping=True)
    raise ValueError(f"store URL: {backend!r} is not supported (use sqlite:///PATH or postgresql+psycopg://...)")


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    """A file database in WAL mode, shared by a thread pool; SQLAlchemy emits BEGIN itself."""
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        raise ValueError("store URL: SQLite needs a file (sqlite:///PATH/broker.db), not an in-memory database")
    Path(database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _private_file(Path(database))
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


def _private_file(path: Path) -> None:
    """Create the database file 0600 (SQLite gives its -wal and -shm files the same mode), or
    narrow an existing one that others can read, with a log line."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        for file in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))):
            if file.exists():
                file.chmod(0o600)
        _log.warning("database file was open to others; narrowed to 0600", path=str(path), was=f"{mode:04o}")


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    # Stop the driver from issuing (or skipping) BEGIN on its own: _sqlite_on_begin does it,
    # so reads are consistent and DDL (migrations) is transactional.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        _enable_wal(cursor)
    finally:
        cursor.close()


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """Put the file in WAL mode (a persistent setting of the database file).

    Switching a new file can fail at once with "database is locked" while another
    connection (another broker starting) switches or migrates it; SQLite's busy
    handler does not cover that case, so retry until the busy timeout.
    """
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(BEGIN_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
