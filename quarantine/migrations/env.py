"""Alembic's environment for the quarantine schema: run on the connection quarantine.schema gives."""
from alembic import context

from quarantine.store import metadata

connection = context.config.attributes["connection"]
# batch mode: SQLite cannot ALTER most things in place; alembic copies the table for it
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
