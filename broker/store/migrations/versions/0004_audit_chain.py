"""The audit hash chain: seq, prev_hash and hash on every audit event, who sent it, and
on whose behalf (subject: the actor, for the events already there).

Events already recorded are chained in id (time) order with the same hash the broker
computes (a frozen copy below), so `broker admin audit verify` checks them too; the
``audit_chain`` counters row is what appenders lock.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_NEW_COLUMNS = ("seq", "prev_hash", "hash", "client_address", "replica", "subject")


def _chain_hash(row: dict[str, Any]) -> str:
    """Frozen copy of core.audit.chain_hash at this revision."""
    when: datetime = row["event_time"]
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    content = {**row, "event_time": when.isoformat(timespec="microseconds")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("client_address", sa.Text(), nullable=True))
        batch.add_column(sa.Column("replica", sa.Text(), nullable=True))
        batch.add_column(sa.Column("subject", sa.Text(), nullable=True))
    names = ["id", "event_time", "action", "actor", "target", "outcome", "request_id", "details"]
    events = sa.table(
        "audit_events",
        *map(sa.column, [n for n in names if n != "event_time"]),
        sa.column("event_time", sa.DateTime(timezone=True)),
        *map(sa.column, _NEW_COLUMNS),
    )
    conn = op.get_bind()
    prev_hash = ""
    rows = conn.execute(sa.select(*(events.c[n] for n in names)).order_by(events.c.id)).all()
    for seq, row in enumerate(rows, start=1):
        extra = {"client_address": "", "replica": "", "subject": row.actor}
        content = {**row._mapping, "details": json.loads(row.details), **extra, "seq": seq, "prev_hash": prev_hash}
        prev_hash = _chain_hash(content)
        values = {"seq": seq, "prev_hash": content["prev_hash"], "hash": prev_hash, **extra}
        conn.execute(sa.update(events).where(events.c.id == row.id).values(values))
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("client_address", existing_type=sa.Text(), nullable=False)
        batch.alter_column("replica", existing_type=sa.Text(), nullable=False)
        batch.alter_column("subject", existing_type=sa.Text(), nullable=False)
    op.create_index("ix_audit_events_seq", "audit_events", ["seq"], unique=True)
    # The row appenders lock to chain onto the head one at a time (store/sql/audit.py).
    counters = sa.table("counters", sa.column("name"), sa.column("value"))
    conn.execute(sa.insert(counters).values(name="audit_chain", value=0))


def downgrade() -> None:
    op.execute("DELETE FROM counters WHERE name = 'audit_chain'")
    op.drop_index("ix_audit_events_seq", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        for name in reversed(_NEW_COLUMNS):
            batch.drop_column(name)
