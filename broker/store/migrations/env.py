"""Alembic environment: runs on the connection handed over in ``config.attributes``.

There is no alembic.ini; ``broker.store.migrations.alembic_config`` builds the config.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from broker.store.sql.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "run migrations through broker.store.migrations (alembic_config(connection)); "
        "offline mode and alembic.ini are not supported"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
