"""Token cut-offs on identities, the (issuer, subject) binding index, per-secret event numbers.

- ``identities.tokens_valid_from``: tokens issued before it are dead (NULL: since creation);
- ``identity_bindings``: one row per binding of every identity, filled from the bindings
  column of the rows already there;
- ``secret_events.secret_seq``: each event's number among its secret's events, filled in
  seq order for the events already recorded.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen copies of the types at this revision (see 0001).
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("identities") as batch:
        batch.add_column(sa.Column("tokens_valid_from", _TIME, nullable=True))

    op.create_table(
        "identity_bindings",
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("identity_id", sa.String(63), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name="fk_identity_bindings_identity_id_identities",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issuer", "subject", "identity_id", name="pk_identity_bindings"),
    )
    op.create_index("ix_identity_bindings_identity_id", "identity_bindings", ["identity_id"])
    conn = op.get_bind()
    identities = sa.table("identities", sa.column("id"), sa.column("bindings"))
    bindings = sa.table("identity_bindings", sa.column("issuer"), sa.column("subject"), sa.column("identity_id"))
    rows: list[dict[str, str]] = []
    for identity_id, text in conn.execute(sa.select(identities.c.id, identities.c.bindings)):
        pairs = {(b["issuer"], b["subject"]) for b in json.loads(text or "[]")}
        rows.extend({"issuer": i, "subject": s, "identity_id": identity_id} for i, s in sorted(pairs))
    if rows:
        conn.execute(sa.insert(bindings), rows)

    with op.batch_alter_table("secret_events") as batch:
        batch.add_column(sa.Column("secret_seq", sa.BigInteger(), nullable=True))
    events = sa.table("secret_events", sa.column("seq"), sa.column("secret_id"), sa.column("secret_seq"))
    numbered: dict[str, int] = {}
    for seq, secret_id in conn.execute(sa.select(events.c.seq, events.c.secret_id).order_by(events.c.seq)).all():
        numbered[secret_id] = numbered.get(secret_id, 0) + 1
        conn.execute(sa.update(events).where(events.c.seq == seq).values(secret_seq=numbered[secret_id]))
    with op.batch_alter_table("secret_events") as batch:
        batch.alter_column("secret_seq", existing_type=sa.BigInteger(), nullable=False)
    op.create_index("ix_secret_events_secret_id_secret_seq", "secret_events", ["secret_id", "secret_seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_secret_events_secret_id_secret_seq", table_name="secret_events")
    with op.batch_alter_table("secret_events") as batch:
        batch.drop_column("secret_seq")
    op.drop_index("ix_identity_bindings_identity_id", table_name="identity_bindings")
    op.drop_table("identity_bindings")
    with op.batch_alter_table("identities") as batch:
        batch.drop_column("tokens_valid_from")
