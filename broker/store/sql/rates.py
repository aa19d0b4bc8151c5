"""The shared token buckets of the rate limits: one upsert per call, race-free.

Each call refills the key's bucket for the time since its last call (never above its
burst), then takes a token if there is a whole one, in ONE statement: concurrent calls
on the same key serialize on its row (PostgreSQL) or on the write lock (SQLite), so every
process on the store shares one bucket per key.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, case, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .schema import rate_buckets

__all__ = ["take_token"]


def take_token(
    insert: sqlite.Insert | postgresql.Insert, conn: Connection, key: str, *, burst: int, per_second: float, now: float
) -> float:
    """Spend one token of ``key``; 0.0 when spent, else the seconds until one is back."""
    rb = rate_buckets.c
    elapsed = case((literal(now) > rb.at, literal(now) - rb.at), else_=0.0)
    refilled: ColumnElement[float] = rb.tokens + elapsed * per_second
    available = case((refilled < burst, refilled), else_=float(burst))
    left = case((available >= 1, available - 1), else_=available)
    stmt = (
        insert.values(key=key, tokens=burst - 1.0, at=now, full_at=now + 1.0 / per_second, refused=False)
        .on_conflict_do_update(
            index_elements=[rb.key],
            set_={"tokens": left, "at": now, "full_at": now + (burst - left) / per_second, "refused": available < 1},
        )
        .returning(rb.tokens, rb.refused)
    )
    tokens, refused = conn.execute(stmt).one()
    return (1.0 - float(tokens)) / per_second if refused else 0.0
