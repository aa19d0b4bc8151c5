"""The SQL store's audit chain statements: the unique seq is the chain head's compare-and-set.

A batch goes in whole or not at all (one transaction): of two replicas appending at once,
one gets the next seqs and the other finds them taken and chains again (core/audit.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Delete, Select, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ...core.audit import AuditEvent, AuditFilter, ChainHead, event_id_floor
from .. import records
from ..records import DATETIME
from .rows import equal_to
from .schema import audit_events

__all__ = ["Taken", "append", "chain_after", "head", "listing", "oldest", "rows_to_events"]

_events = audit_events.c


class Taken(Exception):
    """A seq of the batch is taken: roll the whole batch back."""


def append(insert: sqlite.Insert | postgresql.Insert, conn: Connection, events: Sequence[AuditEvent]) -> None:
    """Insert every event or raise ``Taken`` (the caller's transaction then rolls back)."""
    values = [records.audit_fields(event, DATETIME) for event in events]
    stmt = insert.values(values).on_conflict_do_nothing().returning(_events.seq)
    if len(conn.execute(stmt).all()) != len(events):
        raise Taken


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
