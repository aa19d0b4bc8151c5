"""Trusted issuers, rotating secrets (versions, events, event counter) and leader leases.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copies of the types at this revision (see 0001).
_TIME = sa.DateTime(timezone=True)
_JSON = sa.Text()


def upgrade() -> None:
    op.create_table(
        "trusted_issuers",
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("jwks_json", sa.Text(), nullable=False),
        sa.Column("jwks_file", sa.Text(), nullable=False),
        sa.Column("jwks_url", sa.Text(), nullable=False),
        sa.Column("algorithms", _JSON, nullable=False),
        sa.Column("audience", sa.Text(), nullable=False),
        sa.Column("single_use", sa.Boolean(), nullable=False),
        sa.Column("max_token_age_seconds", sa.Integer(), nullable=True),
        sa.Column("create_time", _TIME, nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("issuer", name="pk_trusted_issuers"),
    )
    op.create_table(
        "secrets",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("generator", sa.String(32), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("rotation_interval_seconds", sa.Integer(), nullable=True),
        sa.Column("grace_period_seconds", sa.Integer(), nullable=False),
        sa.Column("retention_seconds", sa.Integer(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("next_rotation_time", _TIME, nullable=True),
        sa.Column("create_time", _TIME, nullable=True),
        sa.Column("update_time", _TIME, nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_secrets"),
    )
    op.create_index("ix_secrets_next_rotation_time", "secrets", ["next_rotation_time"])
    op.create_table(
        "secret_versions",
        sa.Column("secret_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("create_time", _TIME, nullable=False),
        sa.Column("grace_expire_time", _TIME, nullable=True),
        sa.Column("expire_time", _TIME, nullable=True),
        sa.Column("destroyed", sa.Boolean(), nullable=False),
        sa.Column("sealed_value", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("secret_id", "version", name="pk_secret_versions"),
        sa.ForeignKeyConstraint(
            ["secret_id"], ["secrets.id"], name="fk_secret_versions_secret_id_secrets", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_secret_versions_state_grace_expire_time", "secret_versions", ["state", "grace_expire_time"])
    op.create_table(
        "secret_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("secret_id", sa.Text(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("event_time", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_secret_events"),
    )
    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )
    op.bulk_insert(counters, [{"name": "secret_events", "value": 0}])
    op.create_table(
        "leases",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    for table in ("leases", "counters", "secret_events", "secret_versions", "secrets", "trusted_issuers"):
        op.drop_table(table)
