"""Initial schema: identities, signing keys, replay records, revocations, audit events.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types at this revision (never import the live schema here):
# UTCDateTime and JSONText from sql/schema.py are stored as these.
_TIME = sa.DateTime(timezone=True)
_JSON = sa.Text()


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("max_token_ttl_seconds", sa.Integer(), nullable=True),
        sa.Column("allowed_scopes", _JSON, nullable=False),
        sa.Column("allowed_audiences", _JSON, nullable=False),
        sa.Column("bindings", _JSON, nullable=False),
        sa.Column("public_keys", _JSON, nullable=False),
        sa.Column("delegable_scopes", _JSON, nullable=False),
        sa.Column("create_time", _TIME, nullable=True),
        sa.Column("update_time", _TIME, nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(128), nullable=False),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", _TIME, nullable=False),
        sa.Column("activate_time", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )
    op.create_table(
        "replay_records",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_replay_records"),
    )
    op.create_index("ix_replay_records_expires_at", "replay_records", ["expires_at"])
    op.create_table(
        "revocations",
        sa.Column("jti", sa.Text(), nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("jti", name="pk_revocations"),
    )
    op.create_index("ix_revocations_expires_at", "revocations", ["expires_at"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("event_time", _TIME, nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("details", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_actor_id", "audit_events", ["actor", "id"])
    op.create_index("ix_audit_events_target_id", "audit_events", ["target", "id"])


def downgrade() -> None:
    for table in ("audit_events", "revocations", "replay_records", "signing_keys", "identities"):
        op.drop_table(table)
