"""The Store on SQLite (embedded default) or PostgreSQL, with SQLAlchemy 2 Core and Alembic.

- ``store.py``: ``SqlStore``, every Store method as one transaction;
- ``schema.py``: the tables (the Alembic migrations in store/migrations/ build the same);
- ``errors.py``: the one translation of "cannot reach the database" into ``Unavailable``;
- ``replay.py``: single-use records on a dedicated driver connection (the exchange's hot path).

Rows <-> domain objects go through the codecs the Vault store shares (store/records.py).
"""

from __future__ import annotations

from .store import SqlStore

__all__ = ["SqlStore"]
