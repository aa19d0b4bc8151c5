"""The SQL store's audit chain: a batch is numbered and linked onto the head inside the
transaction that inserts it, with the head locked, so appenders queue instead of racing.

The lock is the ``audit_chain`` row of ``counters`` (SELECT ... FOR UPDATE on PostgreSQL;
on SQLite the transaction's BEGIN IMMEDIATE already holds the one write lock). The unique
index on seq stays as the last guard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Delete, Select, Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ...core.audit import AuditEvent, AuditFilter, ChainHead, chain_onto, event_id_floor
from .. import records
from ..records import DATETIME
from .rows import equal_to
from .schema import audit_events, counters

__all__ = ["LOCK", "append", "chain_after", "head", "listing", "oldest", "rows_to_events"]

#: The counters row whose lock serializes appenders (migration 0004 creates it).
LOCK = "audit_chain"

_events = audit_events.c


def append(
    insert: Callable[[Table], sqlite.Insert | postgresql.Insert], conn: Connection, drafts: Sequence[AuditEvent]
) -> list[AuditEvent]:
    """Lock the head, chain ``drafts`` onto it and insert them; returns them as stored."""
    conn.execute(select(counters.c.value).where(counters.c.name == LOCK).with_for_update())
    events = chain_onto(drafts, head(conn))
    conn.execute(insert(audit_events).values([records.audit_fields(event, DATETIME) for event in events]))
    return events


def head(conn: Connection) -> ChainHead:
    """The seq and hash of the newest event (0, '' when there is none)."""
    row = conn.execute(select(_events.seq, _events.hash).order_by(_events.seq.desc()).limit(1)).first()
    return ChainHead(0, "") if row is None else ChainHead(int(row.seq), row.hash)


def chain_after(after: int, limit: int) -> Select[tuple[AuditEvent]]:
    """Events with seq > ``after``, in seq order."""
    return select(audit_events).where(_events.seq > after).order_by(_events.seq).limit(limit)


def listing(before: str, limit: int, flt: AuditFilter) -> Select[tuple[AuditEvent]]:
    """Events with id < ``before`` ('' = newest) matching ``flt``, newest first."""
    stmt = select(audit_events).where(*equal_to(audit_events, flt))
    if before:
        stmt = stmt.where(_events.id < before)
    return stmt.order_by(_events.id.desc()).limit(limit)


def oldest(before: datetime, limit: int) -> Delete:
    """Delete up to ``limit`` of the oldest events older than ``before``, never the chain's head."""
    newest = select(func.max(_events.seq)).scalar_subquery()
    ids = select(_events.id).where(_events.id < event_id_floor(before), _events.seq < newest).order_by(_events.id)
    return delete(audit_events).where(_events.id.in_(ids.limit(limit)))


def rows_to_events(conn: Connection, stmt: Select[tuple[AuditEvent]]) -> list[AuditEvent]:
    """The events a select of whole rows returns."""
    return [records.audit_from_record(row._mapping, DATETIME) for row in conn.execute(stmt)]
