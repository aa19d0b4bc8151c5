"""A throwaway PostgreSQL server for tests: a temporary data directory, 127.0.0.1, a free port.

::

    server = PostgresServer()
    server.start()                    # PostgresStartError (with the log tail) if it cannot
    url = server.create_database()    # postgresql+psycopg://postgres@127.0.0.1:PORT/t_<hex>
    ...
    server.stop()

It runs the binaries of the highest PostgreSQL under /usr/lib/postgresql/*/bin (Debian's
layout), else those on PATH. PostgreSQL refuses to run as root, so as root the processes
run as the ``postgres`` user. ``start_for_pytest()`` wraps ``start()`` with the suite's
policy: fail loudly, skip only when ``BROKER_TEST_SKIP_POSTGRES=1``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

__all__ = ["SKIP_ENV", "PostgresServer", "PostgresStartError", "find_bin_dir", "free_port", "start_for_pytest"]

SKIP_ENV = "BROKER_TEST_SKIP_POSTGRES"
_SUPERUSER = "postgres"
_LOG_TAIL_LINES = 30


class PostgresStartError(RuntimeError):
    """The test server could not be started; the message ends with its log tail."""


def find_bin_dir() -> Path | None:
    """The bin directory of the newest installed PostgreSQL, or None."""
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "postgres").exists()]
    numbered = [p for p in candidates if p.parent.name.isdigit()]
    if numbered:
        return max(numbered, key=lambda p: int(p.parent.name))
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path else None


class PostgresServer:
    """One PostgreSQL server process owned by the test session (trust auth, fsync off)."""

    def __init__(self, *, startup_timeout: float = 30.0) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self._startup_timeout = startup_timeout
        self._tmp: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path | None:
        """Where initdb and the server write their output."""
        return None if self._tmp is None else self._tmp / "server.log"

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://{_SUPERUSER}@{self.host}:{self.port}/{database}"

    def start(self) -> None:
        """initdb a fresh data directory and start the server; wait until it accepts connections."""
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise PostgresStartError(
                "PostgreSQL binaries not found (looked in /usr/lib/postgresql/*/bin and PATH); "
                "install the postgresql package"
            )
        self._tmp = Path(tempfile.mkdtemp(prefix="broker-pg-"))
        atexit.register(self.stop)
        self.port = free_port()
        data = self._tmp / "data"
        user = _server_user()
        if user is not None:
            os.chown(self._tmp, user.pw_uid, user.pw_gid)
        with open(self._tmp / "server.log", "ab") as log:
            initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", _SUPERUSER, "-A", "trust"]
            initdb += ["-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
            done = subprocess.run(initdb, stdout=log, stderr=subprocess.STDOUT, check=False, **_run_as(user))
            if done.returncode != 0:
                raise PostgresStartError(f"initdb failed (exit {done.returncode})\n{self._log_tail()}")
            self._process = subprocess.Popen(
                [
                    str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self._tmp),
                    "-c", f"listen_addresses={self.host}", "-c", "fsync=off",
                    "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                **_run_as(user),
            )  # fmt: skip
        self._wait_until_ready()

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the data directory. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex}"
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _admin(self, statement: sql.Composed) -> None:
        with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)

    def _conninfo(self) -> str:
        return f"host={self.host} port={self.port} user={_SUPERUSER} dbname=postgres"

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise PostgresStartError(f"postgres exited with {self._process.returncode}\n{self._log_tail()}")
            try:
                psycopg.connect(self._conninfo(), connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise PostgresStartError(
                        f"postgres not ready after {self._startup_timeout:.0f}s\n{self._log_tail()}"
                    ) from None
                time.sleep(0.05)

    def _log_tail(self) -> str:
        log = self.log_path
        if log is None or not log.exists():
            return "(no log)"
        lines = log.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        return "--- server log (tail) ---\n" + "\n".join(lines)


def _server_user() -> pwd.struct_passwd | None:
    """As root, the postgres user to run the server as; otherwise None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_SUPERUSER)
    except KeyError:
        raise PostgresStartError("running as root and there is no 'postgres' user to run the server") from None


def _run_as(user: pwd.struct_passwd | None) -> dict[str, Any]:
    """subprocess arguments that switch to ``user`` (dropping root's groups), if given.

    Like ``runuser -u postgres --`` but without a wrapper process, so the PID we hold
    is the postmaster's and SIGINT reaches it directly (fast shutdown).
    """
    if user is None:
        return {}
    return {
        "user": user.pw_uid,
        "group": user.pw_gid,
        "extra_groups": [],
        "env": {**os.environ, "HOME": user.pw_dir},
    }


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_for_pytest() -> PostgresServer:
    """Start a server for a test session: skip if BROKER_TEST_SKIP_POSTGRES=1, else fail loudly."""
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: PostgreSQL tests skipped on request")
    server = PostgresServer()
    try:
        server.start()
    except PostgresStartError as exc:
        server.stop()
        message = f"cannot start the PostgreSQL test server: {exc}\n(set {SKIP_ENV}=1 to skip these tests)"
        pytest.fail(message, pytrace=False)
    return server
