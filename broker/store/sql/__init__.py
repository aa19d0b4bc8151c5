"""The Store on SQLite (embedded default) or PostgreSQL, with SQLAlchemy 2 Core and Alembic.

- ``store.py``: ``SqlStore``, every Store method as one transaction;
- ``engine.py``: opening SQLite (a 0600 file, WAL, our own BEGIN) and Postgres engines;
- ``rows.py``: what the methods share on rows: codecs, etags, compare-and-set misses, event seqs;
- ``schema.py``: the tables (the Alembic migrations in store/migrations/ build the same);
- ``errors.py``: the one translation of "cannot reach the database" into ``Unavailable``;
- ``replay.py``: single-use records on a dedicated driver connection (the exchange's hot path);
- ``audit.py``: the audit chain's statements (the unique seq is its compare-and-set);
- ``rates.py``: the rate limits' shared token buckets, one upsert per call;
- ``rewrap.py``: KEK rotation, blobs under an older key sealed again under the first.

Rows <-> domain objects go through the codecs the Vault store shares (store/records.py).
"""

from __future__ import annotations

from .store import SqlStore

__all__ = ["SqlStore"]
