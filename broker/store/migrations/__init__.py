"""Alembic migrations of the SQL store, run in-process on a live connection (no alembic.ini).

- ``upgrade_to_head(engine)``: what ``SqlStore.migrate()`` runs at start. One migrator at a
  time (Postgres: a transaction-scoped advisory lock; SQLite: ``BEGIN IMMEDIATE``), and a
  database whose revision this code does not know (a newer broker migrated it) is refused.
- ``alembic_config(connection)``: a Config for ``alembic.command``, e.g. to write the
  next migration against a database at head::

      with engine.begin() as conn:
          command.revision(alembic_config(conn), "add x", rev_id="0003", autogenerate=True)
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ...core.errors import FailedPrecondition

__all__ = ["ADVISORY_LOCK_KEY", "BEGIN_IMMEDIATE", "alembic_config", "head_revision", "upgrade_to_head"]

_SCRIPT_LOCATION = Path(__file__).resolve().parent
#: Key of the Postgres advisory lock held while migrating ("broker" in ASCII).
ADVISORY_LOCK_KEY = 0x62726F6B6572
#: Execution option: SQLite engines built by SqlStore open the transaction with
#: ``BEGIN IMMEDIATE`` (take the write lock at once) when it is set.
BEGIN_IMMEDIATE = "broker_sqlite_begin_immediate"
#: Alembic's ``context`` and ``op`` are process-wide globals: one migration per process at a time.
_PROCESS_LOCK = threading.Lock()


def alembic_config(connection: Connection) -> Config:
    """An Alembic config whose env.py runs on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPT_LOCATION).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest schema revision this code knows."""
    head = ScriptDirectory(str(_SCRIPT_LOCATION)).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")  # a packaging error, not a runtime state
    return head


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to head in one transaction; a no-op when it is there already."""
    with _PROCESS_LOCK, engine.connect() as conn:
        conn.execution_options(**{BEGIN_IMMEDIATE: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            _refuse_unknown_revision(conn)
            command.upgrade(alembic_config(conn), "head")


def _refuse_unknown_revision(conn: Connection) -> None:
    script = ScriptDirectory(str(_SCRIPT_LOCATION))
    known = {rev.revision for rev in script.walk_revisions()}
    for current in MigrationContext.configure(conn).get_current_heads():
        if current not in known:
            raise FailedPrecondition(
                f"database schema revision {current} is newer than this broker knows "
                f"(head {head_revision()}); upgrade the broker"
            )
